// The dimension picker: a search box over the dimensions, each listed with
// its description, grouped (exporter, source, destination, BGP route, …).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { ColumnInfo } from '../api';
import { pickable } from '../dimensions';

export function DimensionPicker({ columns, used, onPick }: { columns: ColumnInfo[]; used: Set<string>; onPick: (name: string) => void }) {
  const [query, setQuery] = useState('');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);
  const list = useRef<HTMLUListElement>(null);
  const found = useMemo(() => pickable(columns, used, query), [columns, used, query]);
  const flat = found.flatMap(([, cs]) => cs);
  useEffect(() => setActive(0), [query, open]);
  useEffect(() => {
    list.current?.querySelector('[aria-selected=true]')?.scrollIntoView({ block: 'nearest' });
  }, [active, open]);

  const pick = (name: string) => {
    onPick(name);
    setQuery('');
    setOpen(false);
  };
  const onKey = (e: KeyboardEvent) => {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      if (!open) return setOpen(true);
      const n = flat.length;
      if (n) setActive((a) => (a + (e.key === 'ArrowDown' ? 1 : n - 1)) % n);
    } else if (e.key === 'Enter') {
      e.preventDefault();
      if (open && flat[active]) pick(flat[active].name);
    } else if (e.key === 'Escape') {
      setOpen(false);
    }
  };

  let i = 0;
  return (
    <div class="picker">
      <input
        type="text"
        role="combobox"
        aria-label="Add a dimension"
        aria-expanded={open}
        aria-controls="dimension-list"
        aria-activedescendant={open && flat[active] ? `dim-${flat[active].name}` : undefined}
        placeholder="+ add a dimension…"
        value={query}
        spellcheck={false}
        autocomplete="off"
        onInput={(e) => {
          setQuery(e.currentTarget.value);
          setOpen(true);
        }}
        onFocus={() => setOpen(true)}
        onClick={() => setOpen(true)}
        onBlur={() => setOpen(false)}
        onKeyDown={onKey}
      />
      {open && (
        <ul class="picker-list" id="dimension-list" role="listbox" ref={list} onMouseDown={(e) => e.preventDefault()} data-testid="dimension-list">
          {found.length === 0 && <li class="none">No dimension matches “{query}”.</li>}
          {found.map(([g, cs]) => (
            <>
              <li class="group" role="presentation">
                {g}
              </li>
              {cs.map((c) => {
                const n = i++;
                return (
                  <li
                    id={`dim-${c.name}`}
                    role="option"
                    aria-selected={n === active}
                    data-name={c.name}
                    onMouseEnter={() => setActive(n)}
                    onClick={() => pick(c.name)}
                  >
                    <span class="name">{c.name}</span>
                    <span class="desc">{c.description}</span>
                  </li>
                );
              })}
            </>
          ))}
        </ul>
      )}
    </div>
  );
}
