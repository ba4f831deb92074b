// The filter of the visualize page: the editor, its errors where the user
// typed, an Apply button and the saved filters.
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, type FilterError, type SavedFilter } from '../api';
import type { Editor } from '../editor/cm';
import { byteOffset } from '../filtertext';

const byteLength = (s: string) => byteOffset(s, s.length);

type Mod = typeof import('../editor/cm');
let mod: Promise<Mod> | null = null;

export interface FilterBarProps {
  value: string; // the filter applied
  columns: string[];
  onApply(text: string): void;
  serverError?: string; // the graph's request refused the filter
}

export function FilterBar({ value, columns, onApply, serverError }: FilterBarProps) {
  const el = useRef<HTMLDivElement>(null);
  const ed = useRef<Editor | null>(null);
  const [draft, setDraft] = useState(value);
  const [checked, setChecked] = useState<{ errors: FilterError[]; text: string }>({ errors: [], text: '' });
  const [focused, setFocused] = useState(false);
  const [submitted, setSubmitted] = useState(false);
  const apply = useRef(onApply);
  apply.current = onApply;
  const draftRef = useRef(draft);
  draftRef.current = draft;

  useEffect(() => {
    let dead = false;
    (mod ??= import('../editor/cm')).then((m) => {
      if (dead || !el.current) return;
      ed.current = m.createEditor(el.current, {
        doc: draftRef.current,
        columns: columnsRef.current,
        placeholder: 'Filter, like InIfBoundary = external AND Proto = tcp — Enter applies',
        onChange: (t) => {
          setDraft(t);
          setSubmitted(false);
        },
        onSubmit: (t) => {
          setSubmitted(true);
          apply.current(t);
        },
        onErrors: (errors, text) => setChecked({ errors, text }),
        onFocus: setFocused,
      });
    });
    return () => {
      dead = true;
      ed.current?.destroy();
      ed.current = null;
    };
  }, []);

  // The column names arrive after the editor: they only change the colours.
  const columnsRef = useRef(columns);
  columnsRef.current = columns;
  useEffect(() => {
    ed.current?.setColumns(columns);
  }, [columns.join(',')]);

  // "/" anywhere but in a field goes to the filter.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement;
      if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey || t.closest('input, select, textarea, [contenteditable=true]')) return;
      e.preventDefault();
      ed.current?.focus();
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, []);

  // The applied filter changed from outside (URL, saved filter).
  useEffect(() => {
    setDraft(value);
    ed.current?.setDoc(value);
  }, [value]);

  const dirty = draft !== value;
  // While the user types at the end, "expected … got end of filter" is not
  // a mistake yet: those wait for Enter or for the editor to lose focus.
  const end = byteLength(checked.text);
  const shown = checked.text === draft ? checked.errors.filter((e) => submitted || !focused || e.offset < end) : [];
  return (
    <div class="filterwrap">
      <div class="filterbar">
        <div class="editor" ref={el} data-testid="filter" />
        <button
          class="primary"
          onClick={() => {
            setSubmitted(true);
            onApply(draft);
          }}
          disabled={!dirty}
          title="Apply the filter (Enter)"
        >
          Apply
        </button>
        <CopyLink />
        <SavedFilters
          current={draft}
          onPick={(f) => {
            setDraft(f);
            ed.current?.setDoc(f);
            onApply(f);
          }}
        />
      </div>
      {shown.length > 0 && (
        <div class="filter-errors" role="alert" data-testid="filter-errors">
          {shown.map((e) => (
            <div>
              Column {e.column}: {e.message}
            </div>
          ))}
        </div>
      )}
      {serverError && shown.length === 0 && (
        <div class="filter-errors" role="alert">
          {serverError}
        </div>
      )}
    </div>
  );
}

function SavedFilters({ current, onPick }: { current: string; onPick(f: string): void }) {
  const [open, setOpen] = useState(false);
  const [list, setList] = useState<SavedFilter[] | null>(null);
  const [err, setErr] = useState('');
  const [name, setName] = useState('');
  const box = useRef<HTMLDivElement>(null);

  const load = () =>
    api<{ filters: SavedFilter[] }>('console/filters/saved')
      .then((r) => {
        setList(r.filters);
        setErr('');
      })
      .catch((e) => setErr(e instanceof ApiError ? e.message : String(e)));

  useEffect(() => {
    if (!open) return;
    void load();
    const close = (e: MouseEvent) => {
      if (box.current && !box.current.contains(e.target as Node)) setOpen(false);
    };
    const esc = (e: KeyboardEvent) => e.key === 'Escape' && setOpen(false);
    document.addEventListener('mousedown', close);
    document.addEventListener('keydown', esc);
    return () => {
      document.removeEventListener('mousedown', close);
      document.removeEventListener('keydown', esc);
    };
  }, [open]);

  const save = async (e: Event) => {
    e.preventDefault();
    try {
      await api('console/filters/saved', { method: 'PUT', body: { name: name.trim(), filter: current, description: '' } });
      setName('');
      await load();
    } catch (e) {
      setErr(e instanceof ApiError ? e.message : String(e));
    }
  };
  const remove = async (n: string) => {
    try {
      await api(`console/filters/saved/${encodeURIComponent(n)}`, { method: 'DELETE' });
      await load();
    } catch (e) {
      setErr(e instanceof ApiError ? e.message : String(e));
    }
  };

  return (
    <div class="saved" ref={box}>
      <button onClick={() => setOpen(!open)} aria-expanded={open} title="Saved filters">
        Saved ▾
      </button>
      {open && (
        <div class="menu">
          {list === null && !err && <div class="loading">Loading…</div>}
          {list?.length === 0 && <div class="muted" style={{ padding: '0.3em' }}>No saved filter yet.</div>}
          {list?.map((f) => (
            <div class="item">
              <div
                class="f"
                onClick={() => {
                  onPick(f.filter);
                  setOpen(false);
                }}
                title={f.description || f.filter}
              >
                <b>{f.name}</b>
                <code>{f.filter}</code>
              </div>
              <button class="icon" onClick={() => remove(f.name)} title={`Delete ${f.name}`} aria-label={`Delete ${f.name}`}>
                ✕
              </button>
            </div>
          ))}
          <form onSubmit={save} style={{ display: 'flex', gap: '0.3em', marginTop: '0.4em', borderTop: '1px solid var(--border)', paddingTop: '0.5em' }}>
            <input type="text" placeholder="name" value={name} onInput={(e) => setName(e.currentTarget.value)} style={{ flex: 1 }} aria-label="Name of the saved filter" />
            <button type="submit" disabled={!name.trim() || !current.trim()}>
              Save current
            </button>
          </form>
          {err && <div class="error-box" style={{ marginTop: '0.4em' }}>{err}</div>}
        </div>
      )}
    </div>
  );
}

/** CopyLink copies the page's address, which holds every setting. */
function CopyLink() {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(location.href);
      setDone(true);
      setTimeout(() => setDone(false), 1500);
    } catch {
      window.prompt('Copy this link: it opens this view with every setting.', location.href);
    }
  };
  return (
    <button onClick={copy} title="Copy a link to this view, with every setting">
      {done ? 'Copied' : 'Copy link'}
    </button>
  );
}
