package httpapi

import "net/http"

// publicRoutes registers the routes served without authentication (the
// built-in admin page's static files hold no data).
func (h *handler) publicRoutes(root *http.ServeMux) {}

// uiRoutes registers the native routes the built-in admin page needs.
func (h *handler) uiRoutes(m *http.ServeMux) {}
