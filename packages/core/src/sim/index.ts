export { simulate, Simulation, DEFAULT_SIMULATION, type SimulationOptions, type SimulationResult } from './simulation.js';
export { SafetyChecker } from './checker.js';
