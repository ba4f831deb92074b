// A router over the history API: the Go server answers every page route
// with the application, which then draws the page of location.pathname.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();

function emit() {
  for (const l of listeners) l();
}

addEventListener('popstate', emit);

/** navigate goes to a path of the application without reloading. */
export function navigate(to: string, replace = false) {
  const cur = location.pathname + location.search;
  if (to === cur) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  emit();
}

/** useLocation re-renders on navigation and returns path and query string. */
export function useLocation(): { path: string; search: string } {
  const [, set] = useState(0);
  useEffect(() => {
    const l = () => set((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return { path: location.pathname, search: location.search };
}

/** onLinkClick makes an <a href> navigate inside the application. */
export function onLinkClick(e: MouseEvent) {
  const a = (e.currentTarget as HTMLAnchorElement) ?? null;
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const url = new URL(a.href);
  if (url.origin !== location.origin) return;
  e.preventDefault();
  navigate(url.pathname + url.search + url.hash);
}
