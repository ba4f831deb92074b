import { onLinkClick } from '../router';

export function NotFound() {
  return (
    <div class="page narrow notfound">
      <h1>Page not found</h1>
      <p>
        There is no page at <code>{location.pathname}</code>.
      </p>
      <p>
        Go to the <a href="/" onClick={onLinkClick}>home page</a>, <a href="/visualize" onClick={onLinkClick}>visualize</a> the traffic,
        watch the <a href="/pipeline" onClick={onLinkClick}>pipeline</a> or read the <a href="/docs" onClick={onLinkClick}>docs</a>.
      </p>
    </div>
  );
}
