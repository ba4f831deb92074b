// The parts of ECharts the console draws with, loaded on the first chart.
import { init, use, graphic, type EChartsType } from 'echarts/core';
import { LineChart, SankeyChart } from 'echarts/charts';
import { BrushComponent, GraphicComponent, GridComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([LineChart, SankeyChart, BrushComponent, GraphicComponent, GridComponent, TooltipComponent, CanvasRenderer]);

export { init, graphic };
export type { EChartsType };
