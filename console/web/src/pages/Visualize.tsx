export function Visualize() { return <div class="page">Visualize</div>; }
