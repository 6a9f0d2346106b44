package code

import (
	"errors"
	"strings"
	"testing"
)

func TestValidatePath_AcceptsTreePathsAndExplainsRefusals(t *testing.T) {
	for _, p := range []string{"app.star", "lib/util.star", "templates/index.html", "static/a.b.css", "x..y"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	for p, want := range map[string]string{
		"":                                "empty",
		"/etc/passwd":                     "absolute",
		"../x.star":                       `".." element`,
		"a/./b":                           `"." element`,
		"a//b":                            "empty element",
		"a\\b":                            "backslash",
		"a\x00b":                          "control character",
		".git/hooks/pre-commit":           `".git" starts with a dot`,
		"lib/.env":                        `".env" starts with a dot`,
		strings.Repeat("a", MaxPathLen+1): "the limit is 512",
	} {
		err := ValidatePath(p)
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath saying %q", p, err, want)
		}
	}
}
