// The flowengine console: a single-page application over the console API.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ComponentType } from 'preact';
import { connection, setToken } from './api';
import { onLinkClick, useLocation } from './router';
import { Home } from './pages/Home';
import { NotFound } from './pages/NotFound';
import { toggleTheme, useTheme } from './theme';
import './style.css';

function useConnection() {
  const [, set] = useState(0);
  useEffect(() => connection.subscribe(() => set((n) => n + 1)), []);
  return connection;
}

/** lazyPage loads a page's code the first time it is shown. */
function lazyPage(load: () => Promise<ComponentType>): ComponentType {
  let cached: ComponentType | null = null;
  return function Lazy() {
    const [C, setC] = useState<ComponentType | null>(() => cached);
    const [err, setErr] = useState('');
    useEffect(() => {
      if (!cached)
        load()
          .then((c) => {
            cached = c;
            setC(() => c);
          })
          .catch((e) => setErr(String(e)));
    }, []);
    if (err) return <div class="error-box">This page failed to load ({err}): reload to try again.</div>;
    return C ? <C /> : <div class="loading">Loading…</div>;
  };
}

const Visualize = lazyPage(() => import('./pages/Visualize').then((m) => m.Visualize));
const Pipeline = lazyPage(() => import('./pages/Pipeline').then((m) => m.Pipeline));
const Docs = lazyPage(() => import('./pages/Docs').then((m) => m.Docs));

const pages: { path: string; title: string; component: ComponentType }[] = [
  { path: '/', title: 'Home', component: Home },
  { path: '/visualize', title: 'Visualize', component: Visualize },
  { path: '/pipeline', title: 'Pipeline', component: Pipeline },
  { path: '/docs', title: 'Docs', component: Docs },
];

function TokenPrompt() {
  const [v, setV] = useState('');
  return (
    <form
      class="banner"
      onSubmit={(e) => {
        e.preventDefault();
        setToken(v.trim());
        location.reload();
      }}
    >
      This console needs a token (the <code>token</code> of the console's <code>auth</code> block):{' '}
      <input type="password" value={v} onInput={(e) => setV(e.currentTarget.value)} placeholder="token" aria-label="token" />{' '}
      <button type="submit">Use it</button>
    </form>
  );
}

function App() {
  const { path } = useLocation();
  const conn = useConnection();
  const theme = useTheme();
  const page = pages.find((p) => p.path === (path.replace(/\/+$/, '') || '/'));
  useEffect(() => {
    document.title = page ? (page.path === '/' ? 'flowengine' : `${page.title} · flowengine`) : 'Not found · flowengine';
  }, [page]);
  const Page = page?.component ?? NotFound;
  return (
    <>
      <header class="topbar">
        <a class="brand" href="/" onClick={onLinkClick}>
          <svg viewBox="0 0 16 16" width="20" height="20" aria-hidden="true">
            <path d="M1 12 5 6l3 3 4-6 3 4" fill="none" stroke="currentColor" stroke-width="2" />
          </svg>
          flowengine
        </a>
        <nav>
          {pages.map((p) => (
            <a href={p.path} onClick={onLinkClick} class={page === p ? 'active' : ''} aria-current={page === p ? 'page' : undefined}>
              {p.title}
            </a>
          ))}
        </nav>
        <span class="spacer" />
        {!conn.online && <span class="offline" role="status">Server unreachable — reconnecting…</span>}
        <button class="icon" onClick={toggleTheme} title={`Switch to the ${theme === 'dark' ? 'light' : 'dark'} theme`} aria-label="Switch theme">
          {theme === 'dark' ? '☀' : '☾'}
        </button>
      </header>
      {conn.needToken && <TokenPrompt />}
      <main>
        <Page />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);

// Once the first page shows, fetch the rest while the user reads it, so
// that the visualize page opens at once.
const warm = () => {
  void import('./pages/Visualize');
  void import('./charts/echarts');
  void import('./editor/cm');
};
if ('requestIdleCallback' in window) requestIdleCallback(() => setTimeout(warm, 1000));
else setTimeout(warm, 2000);
