export { checkLinearizable, type Model, type Timed, type CheckBudget, type LinearizabilityResult } from './linearizability.js';
export { checkRegisters, checkRegisterKey, describeViolation, recheckWindow, type RegisterCheckResult, type RegisterCheckOptions, type RegisterViolation, type KeyResult } from './register.js';
export { checkListAppend, type ListAnomaly, type ListAnomalyKind, type ListCheckResult } from './list-append.js';
export { describeRegisterOp, type RegisterOp, type ListOp, type Outcome } from './history.js';
