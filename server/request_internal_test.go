package server

import (
	"net/http/httptest"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

func TestRequest_BuildsEachFieldOnFirstUseFrozen(t *testing.T) {
	r := httptest.NewRequest("GET", "/items/7?x=1", nil)
	r.SetPathValue("id", "7")
	ar := newAppRequest(runtime.DefaultLimits())
	args := ar.setRequest(r, []string{"id"}, "r-1", nil)
	req := args[0].(*request)
	for i, v := range req.fields {
		if v != nil {
			t.Errorf("field %s was built before any use", requestFields[i])
		}
	}
	params, err := req.Attr("params")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := req.Attr("params")
	if params != again {
		t.Error("req.params is a new value at each use; want the one built first")
	}
	if err := params.(*starlark.Dict).SetKey(starlark.String("id"), starlark.String("8")); err == nil {
		t.Error("req.params could be changed; want it frozen")
	}
	for i, v := range req.fields {
		if built := v != nil; built != (requestFields[i] == "params") {
			t.Errorf("after reading req.params, field %s built = %v", requestFields[i], built)
		}
	}
}
