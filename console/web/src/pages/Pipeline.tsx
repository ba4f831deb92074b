export function Pipeline() { return <div class="page">Pipeline</div>; }
