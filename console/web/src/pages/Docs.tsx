export function Docs() { return <div class="page">Docs</div>; }
