// Docs: the README's sections and the stage reference, rendered from the
// repository's Markdown when the console was built.
import { useEffect } from 'preact/hooks';
import sections from 'virtual:docs';

export function Docs() {
  useEffect(() => {
    const id = decodeURIComponent(location.hash.slice(1));
    if (id) document.getElementById(id)?.scrollIntoView();
  }, []);
  return (
    <div class="docs">
      <nav aria-label="Sections">
        {sections.map((s) => (
          <a href={`#${s.id}`}>{s.title}</a>
        ))}
      </nav>
      <article>
        {sections.map((s) => (
          <section id={s.id}>
            <h2>{s.title}</h2>
            <div dangerouslySetInnerHTML={{ __html: s.html }} />
          </section>
        ))}
      </article>
    </div>
  );
}
