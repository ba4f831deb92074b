// The filter editor: CodeMirror 6 with the filter language's highlighting,
// completion from filter/complete and errors from filter/validate. Loaded
// on demand (it is the heaviest part of the visualize page after ECharts).
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap, placeholder as placeholderExt, drawSelection } from '@codemirror/view';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { autocompletion, completionKeymap, closeBrackets, completionStatus, startCompletion, type Completion as CMCompletion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { linter, type Diagnostic } from '@codemirror/lint';
import { HighlightStyle, StreamLanguage, syntaxHighlighting } from '@codemirror/language';
import { tags } from '@lezer/highlight';
import { api, type Completion, type FilterError } from '../api';
import { byteOffset, charOffset, tokenEnd, wordKind } from '../filtertext';

export interface EditorOptions {
  doc: string;
  columns: string[];
  placeholder?: string;
  onChange(text: string): void;
  onSubmit(text: string): void;
  onErrors(errors: FilterError[], text: string): void; // the mistakes of text
  onFocus?(focused: boolean): void;
}

export interface Editor {
  setDoc(text: string): void;
  setColumns(columns: string[]): void;
  focus(): void;
  destroy(): void;
}

function language(columns: Set<string>) {
  return StreamLanguage.define<null>({
    name: 'flowfilter',
    token(stream) {
      if (stream.eatSpace()) return null;
      const ch = stream.peek();
      if (ch === "'" || ch === '"') {
        stream.next();
        let c: string | void;
        while ((c = stream.next()) !== undefined && c !== ch);
        return 'string';
      }
      if (stream.match(/^(<<|<=|>=|!=|<>|=|<|>)/)) return 'operator';
      if (stream.match(/^[(),]/)) return 'bracket';
      if (stream.match(/^[^\s()',"=!<>]+/)) {
        return wordKind(stream.current(), columns);
      }
      stream.next();
      return null;
    },
  });
}

const highlight = HighlightStyle.define([
  { tag: tags.keyword, color: 'var(--hl-keyword)', fontWeight: '600' },
  { tag: tags.propertyName, color: 'var(--hl-column)' },
  { tag: tags.string, color: 'var(--hl-string)' },
  { tag: tags.number, color: 'var(--hl-number)' },
  { tag: tags.atom, color: 'var(--hl-value)' },
  { tag: tags.operator, color: 'var(--hl-operator)' },
  { tag: tags.bracket, color: 'var(--muted)' },
]);

const kindType: Record<string, string> = { column: 'property', operator: 'keyword', value: 'constant' };

async function complete(ctx: CompletionContext): Promise<CompletionResult | null> {
  const word = ctx.matchBefore(/(?:'[^']*|"[^"]*|[^\s()',"=!<>]+)$/);
  if (!word && !ctx.explicit && !/[\s(,=<>]$/.test(ctx.state.sliceDoc(Math.max(0, ctx.pos - 1), ctx.pos))) return null;
  const text = ctx.state.doc.toString();
  const ctl = new AbortController();
  ctx.addEventListener('abort', () => ctl.abort());
  let res: { completions: Completion[] };
  try {
    res = await api('console/filter/complete', { body: { filter: text, offset: byteOffset(text, ctx.pos) }, signal: ctl.signal });
  } catch {
    return null;
  }
  if (!res.completions.length) return null;
  return {
    from: word ? word.from : ctx.pos,
    options: res.completions.map((c, i) => ({
      label: c.label,
      detail: c.detail,
      type: kindType[c.kind] ?? 'text',
      boost: -i, // keep the server's order
      // The label and a space; after a column or an operator, what may come
      // next is offered at once.
      apply: (view: EditorView, _c: CMCompletion, from: number, to: number) => {
        const insert = c.label + ' ';
        view.dispatch({ changes: { from, to, insert }, selection: { anchor: from + insert.length }, userEvent: 'input.complete' });
        if (c.kind !== 'value') startCompletion(view);
      },
    })),
    filter: false,
  };
}

export function createEditor(parent: HTMLElement, o: EditorOptions): Editor {
  const lang = new Compartment();
  const columnSet = (cs: string[]) => new Set(cs.map((c) => c.toLowerCase()));
  const check = linter(
    async (view): Promise<Diagnostic[]> => {
      const text = view.state.doc.toString();
      if (!text.trim()) {
        o.onErrors([], text);
        return [];
      }
      let res: { valid: boolean; errors: FilterError[] };
      try {
        res = await api('console/filter/validate', { body: { filter: text } });
      } catch {
        return [];
      }
      o.onErrors(res.errors, text);
      return res.errors.map((e) => {
        const from = Math.min(charOffset(text, e.offset), text.length);
        let to = tokenEnd(text, from);
        if (to === from) to = Math.min(from + 1, text.length);
        return { from: to === from ? Math.max(0, from - 1) : from, to, severity: 'error', message: e.message };
      });
    },
    { delay: 300 },
  );
  const submit = (v: EditorView) => {
    if (completionStatus(v.state) === 'active') return false;
    o.onSubmit(v.state.doc.toString());
    return true;
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: o.doc,
      extensions: [
        history(),
        drawSelection(),
        closeBrackets(),
        EditorView.lineWrapping,
        lang.of(language(columnSet(o.columns))),
        syntaxHighlighting(highlight),
        placeholderExt(o.placeholder ?? ''),
        autocompletion({ override: [complete], activateOnTyping: true, maxRenderedOptions: 50, icons: false }),
        check,
        keymap.of([{ key: 'Enter', run: submit }, { key: 'Mod-Enter', run: submit }, ...completionKeymap, ...historyKeymap, ...defaultKeymap]),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onChange(u.state.doc.toString());
          if (u.focusChanged) o.onFocus?.(u.view.hasFocus);
        }),
        EditorView.contentAttributes.of({ 'aria-label': 'Filter', 'data-testid': 'filter-input' }),
        EditorView.theme({
          '&': { backgroundColor: 'transparent' },
          '.cm-content': { caretColor: 'var(--fg)' },
          '.cm-tooltip': { backgroundColor: 'var(--panel)', border: '1px solid var(--border)', color: 'var(--fg)' },
          '.cm-tooltip-autocomplete ul li[aria-selected]': { backgroundColor: 'var(--accent)', color: 'var(--accent-fg)' },
          '.cm-completionDetail': { color: 'var(--muted)', fontStyle: 'normal', marginLeft: '1em' },
          '.cm-tooltip-autocomplete ul li[aria-selected] .cm-completionDetail': { color: 'inherit', opacity: '0.85' },
          '.cm-diagnostic-error': { borderLeftColor: 'var(--error)' },
          '.cm-lintRange-error': { backgroundImage: 'none', textDecoration: 'underline wavy var(--error)', textUnderlineOffset: '3px' },
        }),
      ],
    }),
  });
  return {
    setDoc(text: string) {
      if (text === view.state.doc.toString()) return;
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
    },
    setColumns(columns: string[]) {
      view.dispatch({ effects: lang.reconfigure(language(columnSet(columns))) });
    },
    focus() {
      view.focus();
    },
    destroy() {
      view.destroy();
    },
  };
}
