// uPlot and its stylesheet in one lazily loaded chunk.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export default uPlot;
