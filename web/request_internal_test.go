package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestRequest_BuildsEachFieldOnFirstUseFrozen(t *testing.T) {
	r := httptest.NewRequest("GET", "/items/7?x=1&x=2", nil)
	r.SetPathValue("id", "7")
	var req Request
	req.Set(Incoming{HTTP: r, ID: "r-1", Params: []string{"id"}})
	for i, v := range req.fields {
		if v != nil {
			t.Errorf("field %s was built before any use", requestFields[i])
		}
	}
	query, err := req.Attr("query")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := req.Attr("query"); again != query {
		t.Error("req.query is a new value at each use; want the one built first")
	}
	xs, _ := query.(*MultiDict).values["x"]
	if len(xs) != 2 {
		t.Errorf("req.query has x = %v, want both values", xs)
	}
	params, _ := req.Attr("params")
	if err := params.(*starlark.Dict).SetKey(starlark.String("id"), starlark.String("8")); err == nil {
		t.Error("req.params could be changed; want it frozen")
	}
	for i, v := range req.fields {
		if built := v != nil; built != (requestFields[i] == "params" || requestFields[i] == "query") {
			t.Errorf("after reading req.query and req.params, field %s built = %v", requestFields[i], built)
		}
	}
}

func TestRequest_PrintsEvenWhenAFieldFails(t *testing.T) {
	r := httptest.NewRequest("GET", "/?"+strings.Repeat("a&", MaxFormFields), nil)
	var req Request
	req.Set(Incoming{HTTP: r})
	if _, err := req.Attr("query"); err == nil || !strings.Contains(err.Error(), "web.MaxFormFields") {
		t.Errorf("req.query of %d fields = %v, want an error naming web.MaxFormFields", MaxFormFields+1, err)
	}
	if s := req.String(); !strings.Contains(s, "query = <") || !strings.Contains(s, "web.MaxFormFields") {
		t.Errorf("str(req) = %.200q, want the query's error in place of its value", s)
	}
}
