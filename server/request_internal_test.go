package server

import (
	"net/http/httptest"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/web"
)

func TestRequest_FieldsAreFrozenAndBuiltOnce(t *testing.T) {
	r := httptest.NewRequest("GET", "/items/7?x=1", nil)
	r.SetPathValue("id", "7")
	ar := newAppRequest(runtime.DefaultLimits())
	args := ar.setRequest(web.Incoming{HTTP: r, ID: "r-1", Params: []string{"id"}})
	req := args[0].(*web.Request)
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
}
