package load

import (
	"net/http"

	"github.com/authlab/authlab/bench/report"
)

// Class is the outcome class of one request.
type Class uint8

// Request classes. A request is in exactly one.
const (
	ClassOK           Class = iota // 2xx or 3xx
	ClassTransport                 // no HTTP response at all
	ClassSessionLost               // 401 for a user that had been logged in
	ClassUnauthorized              // 401 for a user never logged in
	ClassStoreDown                 // 503 answered by a gateway (its store is unreachable)
	ClassServer                    // any other 5xx (502 from the lb, 503 from the lb itself)
	ClassOther                     // any other status
)

// String names c as the report does.
func (c Class) String() string {
	return [...]string{"ok", "transport", "session_lost_401", "unauthorized_401", "store_down_503", "server_5xx", "other"}[c]
}

// Classify returns the class of a response with status code (0 when there
// was no response), the instance header it carried, and whether the user
// had been logged in when the request was sent. A 503 counts as "store
// down" only when a gateway answered (it carries X-Authlab-Instance); a 503
// made up by the lb (no healthy instance) is a server error.
func Classify(code int, instance string, loggedIn bool) Class {
	switch {
	case code == 0:
		return ClassTransport
	case code >= 200 && code < 400:
		return ClassOK
	case code == http.StatusUnauthorized:
		if loggedIn {
			return ClassSessionLost
		}
		return ClassUnauthorized
	case code == http.StatusServiceUnavailable && instance != "":
		return ClassStoreDown
	case code >= 500:
		return ClassServer
	}
	return ClassOther
}

// Count counts one request of class c into e (nothing for ClassOK).
func Count(e *report.Errors, c Class) {
	switch c {
	case ClassTransport:
		e.Transport++
	case ClassSessionLost:
		e.SessionLost++
	case ClassUnauthorized:
		e.Unauthorized++
	case ClassStoreDown:
		e.StoreDown++
	case ClassServer:
		e.Server++
	case ClassOther:
		e.Other++
	}
}
