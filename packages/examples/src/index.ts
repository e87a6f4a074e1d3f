export { main as quickstart } from './quickstart.js';
