package httpapi

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestOpenAPIDescribesEveryRoute checks openapi.json against routes():
// every route is described, nothing else is, and every $ref resolves.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI    string                                `json:"openapi"`
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components map[string]map[string]json.RawMessage `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	e := newTestEnv(t)
	seen := map[string]bool{}
	for _, rt := range routes(newServer(e.cfg)) {
		method, path, _ := strings.Cut(rt.pattern, " ")
		seen[strings.ToLower(method)+" "+path] = true
		if _, ok := doc.Paths[path][strings.ToLower(method)]; !ok {
			t.Errorf("route %s is not in openapi.json", rt.pattern)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !seen[method+" "+path] {
				t.Errorf("openapi.json describes %s %s, which is not a route", method, path)
			}
		}
	}
	for _, m := range regexp.MustCompile(`"#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(string(openAPI), -1) {
		if _, ok := doc.Components[m[1]][m[2]]; !ok {
			t.Errorf("$ref %s does not resolve", m[0])
		}
	}
	// And it is served.
	res := e.do(t, request{method: "GET", path: "/api/v1/openapi.json"}).wantStatus(t, 200)
	if string(res.body) != string(openAPI) || res.header.Get("Content-Type") != "application/json" {
		t.Errorf("GET /api/v1/openapi.json does not serve the document")
	}
}
