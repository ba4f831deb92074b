// The parts of ECharts the console draws with, loaded on the first chart.
import { init, use, graphic, type EChartsType } from 'echarts/core';
import { LineChart, SankeyChart } from 'echarts/charts';
import { BrushComponent, GraphicComponent, GridComponent, TooltipComponent, ToolboxComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([LineChart, SankeyChart, BrushComponent, GraphicComponent, GridComponent, TooltipComponent, ToolboxComponent, CanvasRenderer]);

export { init, graphic };
export type { EChartsType };
