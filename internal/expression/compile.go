package expression

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// Defaults of Limits.
const (
	DefaultMaxNodes        = 1000
	DefaultBudget          = 100_000
	DefaultMaxPayloadBytes = 64 << 10
	DefaultMaxValueBytes   = 256 << 10
	DefaultMaxRecords      = 100
)

// Limits bound an expression's size, work and memory; a zero field takes its default.
type Limits struct {
	// MaxNodes is the most syntax nodes an expression may have (checked at compile time).
	MaxNodes int
	// Budget is charged per evaluation for every loop iteration of a builtin, every range element and every
	// element of a list or map literal; exceeding it stops the evaluation with ErrBudget.
	Budget int
	// MaxPayloadBytes is the largest payload evaluated; a larger one fails with ErrLimit before evaluation.
	MaxPayloadBytes int
	// MaxValueBytes is the largest string, byte slice or list (in elements) an expression may build.
	MaxValueBytes int
	// MaxRecords is the most records one uplink evaluation may return.
	MaxRecords int
}

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxNodes, DefaultMaxNodes)
	def(&l.Budget, DefaultBudget)
	def(&l.MaxPayloadBytes, DefaultMaxPayloadBytes)
	def(&l.MaxValueBytes, DefaultMaxValueBytes)
	def(&l.MaxRecords, DefaultMaxRecords)
	return l
}

var (
	// ErrBudget is wrapped by the error of an evaluation that ran out of its work budget (Limits.Budget).
	ErrBudget = errors.New("expression budget exceeded")
	// ErrLimit is wrapped by errors of inputs or values above a size limit (payload, value, records).
	ErrLimit = errors.New("size limit exceeded")
)

// CompileError is a compile-time error of an expression: Line and Column (both from 1) locate it.
type CompileError struct {
	Line, Column int
	Msg          string
	Snippet      string // the line with a caret under the position, indented, starting with a newline
}

func (e *CompileError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s%s", e.Line, e.Column, e.Msg, e.Snippet)
}

// EvalError is an error of one evaluation: Line and Column (from 1) locate the failing step.
type EvalError struct {
	Line, Column int
	Err          error
}

func (e *EvalError) Error() string {
	return fmt.Sprintf("expression failed at line %d, column %d: %v", e.Line, e.Column, e.Err)
}

func (e *EvalError) Unwrap() error { return e.Err }

// Program is a compiled expression. It is safe for concurrent use.
type Program struct {
	prog   *vm.Program
	limits Limits
	uses   map[string]bool // inputs the expression names (json, text, payload) so unused ones are not built
	vms    sync.Pool
}

// Compile compiles src against Env with the given limits. It does no I/O.
func Compile(src string, limits Limits) (*Program, error) {
	limits = limits.withDefaults()
	if strings.TrimSpace(src) == "" {
		return nil, &CompileError{Line: 1, Column: 1, Msg: "empty expression"}
	}
	opts := []expr.Option{
		expr.Env(&Env{}),
		expr.MaxNodes(uint(limits.MaxNodes)),
		expr.Patch(boundedAdd{}),
	}
	for _, name := range disabledBuiltins {
		opts = append(opts, expr.DisableBuiltin(name))
	}
	opts = append(opts, functions(limits)...)
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, compileError(err)
	}
	p := &Program{prog: prog, limits: limits, uses: map[string]bool{}}
	ast.Find(prog.Node(), func(n ast.Node) bool {
		if id, ok := n.(*ast.IdentifierNode); ok {
			p.uses[id.Value] = true
		}
		return false
	})
	p.vms.New = func() any { return &vm.VM{MemoryBudget: uint(limits.Budget)} }
	return p, nil
}

func compileError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &CompileError{Line: max(fe.Line, 1), Column: fe.Column + 1, Msg: fe.Message, Snippet: fe.Snippet}
	}
	return &CompileError{Line: 1, Column: 1, Msg: err.Error()}
}

// Limits returns the limits the program was compiled with (defaults filled in).
func (p *Program) Limits() Limits { return p.limits }

// eval runs the program on env after filling the inputs the expression names.
func (p *Program) eval(env *Env) (any, error) {
	if len(env.Payload) > p.limits.MaxPayloadBytes {
		return nil, fmt.Errorf("%w: payload of %d bytes is above %d", ErrLimit, len(env.Payload), p.limits.MaxPayloadBytes)
	}
	if p.uses["text"] && env.Text == "" {
		env.Text = string(env.Payload)
	}
	if p.uses["json"] && env.JSON == nil {
		env.JSON, _ = parseJSON(env.Payload)
	}
	m := p.vms.Get().(*vm.VM)
	out, err := m.Run(p.prog, env)
	p.vms.Put(m)
	if err != nil {
		return nil, evalError(err)
	}
	return out, nil
}

func evalError(err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return err
	}
	cause := fe.Unwrap()
	if cause == nil {
		cause = errors.New(fe.Message)
	}
	if fe.Message == "memory budget exceeded" {
		cause = ErrBudget
	}
	return &EvalError{Line: max(fe.Line, 1), Column: fe.Column + 1, Err: cause}
}

// boundedAdd replaces every "+" by a call of the add function, which refuses strings and lists longer than the
// value limit: "+" is the one operator that builds values, and a chain of lets doubling a string would otherwise
// grow it exponentially.
type boundedAdd struct{}

func (boundedAdd) Visit(node *ast.Node) {
	if b, ok := (*node).(*ast.BinaryNode); ok && b.Operator == "+" {
		ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "__add"}, Arguments: []ast.Node{b.Left, b.Right}})
	}
}
