import { useEffect, useState } from 'preact/hooks';

export type Theme = 'light' | 'dark';

/** useTheme follows the theme set on <html data-theme>. */
export function useTheme(): Theme {
  const [t, set] = useState<Theme>(document.documentElement.dataset.theme as Theme);
  useEffect(() => {
    const o = new MutationObserver(() => set(document.documentElement.dataset.theme as Theme));
    o.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    return () => o.disconnect();
  }, []);
  return t;
}

export function toggleTheme() {
  const t = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  document.documentElement.dataset.theme = t;
  localStorage.setItem('flowengine.theme', t);
}

/** palette is the series colours, distinct in both themes. */
export const palette = [
  '#2f7dd1', '#e8833a', '#3aa76d', '#d64550', '#8e6bd1', '#c9a227', '#1fa2b5', '#d36bb0',
  '#7a8b99', '#5b8c2a', '#b5651d', '#4361ee', '#f28482', '#2a9d8f', '#9d4edd', '#e9c46a',
];
