package objects

import (
	"fmt"

	"go.starlark.net/starlark"
)

// ClassIn returns the model name declared at the top level of module, given the module's
// globals: the building block of a ClassResolver. It returns an error wrapping ErrNoClass when
// the module has no such global, or when the global is not a model declared there under that
// name (a model loaded from another module is found through its own module).
func ClassIn(globals starlark.StringDict, module, name string) (*Model, error) {
	v, ok := globals[name]
	if !ok {
		return nil, fmt.Errorf("%w: module %s declares no %s", ErrNoClass, module, name)
	}
	m, ok := v.(*Model)
	if !ok {
		return nil, fmt.Errorf("%w: %s in module %s is a %s, not a model", ErrNoClass, name, module, v.Type())
	}
	if m.module != module || m.name != name {
		return nil, fmt.Errorf("%w: %s in module %s is the model %s", ErrNoClass, name, module, m.QualifiedName())
	}
	return m, nil
}
