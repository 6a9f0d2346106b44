package objects

import (
	"errors"
	"fmt"
)

var (
	// ErrConflict is returned by Run when every attempt of a transaction lost to a concurrent
	// one (something it read changed before it could commit); nothing was written. The server
	// answers 409 Conflict.
	ErrConflict = errors.New("objects: transaction conflict: the data it read kept changing under concurrent requests")

	// ErrNoClass is returned (wrapped) by a ClassResolver when the module or the model named by
	// a stored object no longer exists in the current code, and by the methods of such an object.
	ErrNoClass = errors.New("objects: class not found")

	// ErrNoTransaction is returned by the db builtin when no transaction is bound to the thread:
	// at module top level, or in code that does not run within a request.
	ErrNoTransaction = errors.New("objects: the database is only available while handling a request")

	// ErrTooLarge is returned when a transaction's commit (compares plus writes, or bytes) exceeds
	// the store's Limits. A transaction is never split: the request must read or write less.
	ErrTooLarge = errors.New("objects: transaction too large for one atomic commit")

	// ErrNewerObject is returned when writing an object whose stored version is newer than its
	// class in the current code (after a code rollback): writing it would lose its newer fields.
	ErrNewerObject = errors.New("objects: object is newer than its class")

	// ErrUnstorable is returned (wrapped, naming the field) when a value cannot be stored:
	// functions, objects and other values without an encoding.
	ErrUnstorable = errors.New("objects: value cannot be stored")

	// ErrCorrupt is returned (wrapped) when stored bytes are not a valid encoding.
	ErrCorrupt = errors.New("objects: invalid encoding")

	// ErrInvalidField is wrapped by a *FieldError: a value refused by a model's field (its type,
	// or a value that cannot be stored). The server answers 422 naming the field.
	ErrInvalidField = errors.New("objects: invalid field value")
)

// A FieldError is a value refused by a field of a model.
type FieldError struct {
	Model, Field string
	Reason       string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s.%s: %s", e.Model, e.Field, e.Reason) }
func (e *FieldError) Unwrap() error { return ErrInvalidField }

// An AbortError is the error of abort(status, message): the handler stops, its writes are
// rolled back, and the server answers Status with Message.
type AbortError struct {
	Status  int
	Message string
}

func (e *AbortError) Error() string { return fmt.Sprintf("abort(%d): %s", e.Status, e.Message) }
