// Renders the documentation page at build time: the user sections of the
// repository's README and the reference of every stage (`flowengine stages`),
// both as Markdown turned into HTML, served as the module virtual:docs.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { marked } from 'marked';
import type { Plugin } from 'vite';

const root = resolve(import.meta.dirname, '../../..');
const id = 'virtual:docs';

export interface DocSection {
  id: string;
  title: string;
  html: string;
}

/** slug turns a heading into an anchor. */
export function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** readmeSections splits a README at its level-2 headings. */
export function readmeSections(md: string): { title: string; body: string }[] {
  const out: { title: string; body: string }[] = [];
  let cur: { title: string; body: string } | null = null;
  let fence = false;
  for (const line of md.split('\n')) {
    if (/^(```|~~~)/.test(line)) fence = !fence;
    const m = !fence && /^## (.+)$/.exec(line);
    if (m) {
      cur = { title: m[1].trim(), body: '' };
      out.push(cur);
    } else if (cur) {
      cur.body += line + '\n';
    }
  }
  return out;
}

/** stagesMarkdown turns the text of `flowengine stages` into Markdown. */
export function stagesMarkdown(text: string): string {
  const out: string[] = [];
  let inTable = false;
  let attr: string[] | null = null;
  const flush = () => {
    if (attr) out.push(`| \`${attr[0]}\` | ${attr[1]} | ${attr[2].trim()} |`);
    attr = null;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const head = /^(\w+) "([^"]+)"/.exec(line);
    if (head) {
      flush();
      inTable = false;
      out.push('', `### ${head[1]} "${head[2]}"`, '');
      continue;
    }
    const a = /^ {4}(\S+)\s{2,}(.+)$/.exec(line);
    if (a && !/^ {5}/.test(line)) {
      flush();
      if (!inTable) {
        out.push('', '| attribute | type | description |', '|---|---|---|');
        inTable = true;
      }
      attr = [a[1], esc(a[2]), ''];
      continue;
    }
    if (/^ {5,}/.test(line) && attr) {
      attr[2] += ' ' + esc(line.trim());
      continue;
    }
    if (/^ {2}\S/.test(line) && !inTable) {
      out.push(line.trim());
      continue;
    }
    flush();
    out.push('', line.trim());
  }
  flush();
  return out.join('\n');
}

function esc(s: string): string {
  return s.replace(/\|/g, '\\|');
}

/** stagesText is the output of `flowengine stages`, written by `make build`. */
function stagesText(): string {
  const gen = resolve(import.meta.dirname, '../.gen/stages.txt');
  if (existsSync(gen)) return readFileSync(gen, 'utf8');
  const bin = process.env.FLOWENGINE_BIN || resolve(root, 'bin/flowengine');
  try {
    if (existsSync(bin)) return execFileSync(bin, ['stages'], { encoding: 'utf8' });
  } catch {
    /* the page says how to get the reference */
  }
  return '';
}

export function build(): DocSection[] {
  const sections: DocSection[] = [];
  const readme = resolve(root, 'README.md');
  if (existsSync(readme)) {
    for (const s of readmeSections(readFileSync(readme, 'utf8'))) {
      sections.push({ id: slug(s.title), title: s.title, html: marked.parse(s.body, { async: false }) as string });
    }
  }
  const stages = stagesText();
  sections.push({
    id: 'stages',
    title: 'Stage reference',
    html: stages
      ? (marked.parse('Every stage a pipeline can declare, with its attributes (`flowengine stages`).\n' + stagesMarkdown(stages), { async: false }) as string)
      : '<p>The stage reference is written when the console is built with <code>make build</code>; run <code>flowengine stages</code> meanwhile.</p>',
  });
  return sections;
}

export function docs(): Plugin {
  return {
    name: 'flowengine-docs',
    resolveId(source) {
      return source === id ? '\0' + id : null;
    },
    load(source) {
      if (source !== '\0' + id) return null;
      return `export default ${JSON.stringify(build())};`;
    },
  };
}
