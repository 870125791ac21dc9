package api

import (
	"embed"
	"fmt"
	"net/http"
	"path"
	"strconv"
)

// dashboardFiles is the dashboard: one page, its script and its style,
// written by hand so that the page works offline and brings no
// third-party code into the node (docs/design/2026-12-02-dashboard.md).
//
//go:embed dashboard
var dashboardFiles embed.FS

// dashboardPolicy keeps the page to its own assets and the API: no
// inline script, nothing fetched from elsewhere.
const dashboardPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// assetTypes are the media types of the embedded files, fixed here
// rather than read from the system's tables.
var assetTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
}

// dashboardPage serves the page at /.
func (s *Server) dashboardPage(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, "index.html")
}

// dashboardAsset serves /dashboard/{asset}; any name that is not one of
// the embedded files is the API's JSON not_found.
func (s *Server) dashboardAsset(w http.ResponseWriter, r *http.Request) {
	s.serveAsset(w, r.PathValue("asset"))
}

func (s *Server) serveAsset(w http.ResponseWriter, name string) {
	body, err := dashboardFiles.ReadFile("dashboard/" + name)
	if err != nil || name != path.Base(name) || name == "." {
		writeError(w, newError(codeNotFound, fmt.Sprintf("api: no dashboard asset %q", name)))
		return
	}
	ctype, ok := assetTypes[path.Ext(name)]
	if !ok {
		ctype = "application/octet-stream"
	}
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardPolicy)
	// The assets are built into the binary: a restart with a new binary
	// is the only change, so a short cache suffices.
	h.Set("Cache-Control", "max-age=60")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	writeRaw(w, http.StatusOK, ctype, body)
}
