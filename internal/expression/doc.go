// Package expression is the gateway's one expression environment: converters written in a connector's
// configuration (uplink: a device's bytes or JSON to records; downlink: an attribute update or an RPC to the bytes,
// JSON or register values a device takes) and, later, edge analytics rules. Expressions are written in the
// expr language (github.com/expr-lang/expr) and compiled once, when the configuration is loaded.
//
// The environment is sandboxed: an expression reads only the inputs of Env and calls only the functions listed in
// Functions and the pure builtins of the language; there is no I/O, no clock (the receive time is the input ts),
// no access to Go methods of the gateway. It is bounded:
//   - in size: an expression has at most Limits.MaxNodes syntax nodes (compile error);
//   - in work: loop iterations of the builtins (map, filter, all, reduce, ...), ranges and collection literals
//     are charged to Limits.Budget per evaluation, and every other step is bounded by the expression's size, so a
//     runaway expression stops with ErrBudget instead of spinning;
//   - in memory: a payload above Limits.MaxPayloadBytes is refused before evaluation, every string, byte or list
//     value an expression builds (+, join, replace, toJSON, string, ...) is at most Limits.MaxValueBytes, and an
//     uplink result holds at most Limits.MaxRecords records.
//
// Errors: Compile errors carry the line and column of the expression (CompileError); evaluation errors
// (EvalError) carry the position of the failing step; both wrap the cause. The spec with examples is
// docs/converters.md.
package expression
