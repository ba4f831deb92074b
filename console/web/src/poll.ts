import { useEffect, useRef } from 'preact/hooks';
import { connection } from './api';

/**
 * usePoll calls fn now and every ms milliseconds while the page is visible,
 * and again as soon as a lost server answers; fn gets a signal that is
 * aborted when the next call starts or the component goes away.
 */
export function usePoll(fn: (signal: AbortSignal) => void | Promise<void>, ms: number, deps: unknown[] = []) {
  const f = useRef(fn);
  f.current = fn;
  useEffect(() => {
    let ctl: AbortController | null = null;
    let timer = 0;
    let stopped = false;
    const run = async () => {
      clearTimeout(timer);
      if (stopped) return;
      ctl?.abort();
      ctl = new AbortController();
      try {
        await f.current(ctl.signal);
      } catch {
        /* the callback shows its own errors */
      }
      if (!stopped) timer = window.setTimeout(tick, ms);
    };
    const tick = () => {
      if (document.visibilityState === 'hidden') timer = window.setTimeout(tick, ms);
      else void run();
    };
    const onVisible = () => document.visibilityState === 'visible' && void run();
    let wasOnline = connection.online;
    const unsub = connection.subscribe(() => {
      if (connection.online && !wasOnline) void run();
      wasOnline = connection.online;
    });
    document.addEventListener('visibilitychange', onVisible);
    void run();
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctl?.abort();
      unsub();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, deps);
}
