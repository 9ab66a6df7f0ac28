// Package apierr writes the project's JSON error shape:
//
//	{"error": "<code>", "message": "<human readable>"}
//
// used by every service and by the load balancer.
package apierr

import (
	"encoding/json"
	"net/http"
)

// Codes used across services.
const (
	CodeBadRequest   = "bad_request"
	CodeUnauthorized = "unauthorized"
	CodeForbidden    = "forbidden"
	CodeNotFound     = "not_found"
	CodeUnavailable  = "unavailable"
	CodeConflict     = "conflict"
	CodeBadGateway   = "bad_gateway"
	CodeInternal     = "internal"
)

// Body is the JSON error body.
type Body struct {
	Error   string `json:"error"`
	Message string `json:"message"`
}

// Write writes status with a JSON error body.
func Write(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Body{Error: code, Message: message})
}
