package gateway

// Cross-site request forgery defences, applied whatever the strategy.
//
// They matter most where a cookie carries the credential (sticky,
// redis-session): a page on another site could otherwise make the browser
// log out its user, or log it in as the attacker (login CSRF: the victim
// then works in the attacker's account). They are applied to bearer and
// control strategies too, so every strategy answers the same request the
// same way (a measurement must not differ by policy) and a cookie added to
// a strategy later is covered from the start.
//
//   - POST /auth/* accept only Content-Type application/json: an HTML form
//     (urlencoded, multipart, text/plain) cannot send it, and a script on
//     another origin can only send it after a CORS preflight, which the
//     gateway never approves.
//   - A state-changing request whose Origin is not the service's own (or
//     one of Config.AllowedOrigins), or that carries Sec-Fetch-Site:
//     cross-site, is refused with 403. A request without Origin (curl, the
//     harness, an old browser) passes: the content-type rule still holds.
//   - A JSON body with duplicate keys at any level (compared as
//     encoding/json matches field names, case-insensitively) or with
//     unknown keys is refused with 400: two parsers must never read two
//     different requests from one body.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
)

// sameOrigin refuses a cross-site request with 403.
func (g *Gateway) sameOrigin(c *gin.Context) {
	if why := g.crossSite(c.Request); why != "" {
		abort(c, http.StatusForbidden, apierr.CodeForbidden, "cross-site request refused: "+why)
		return
	}
	c.Next()
}

// sameOriginUnsafe is sameOrigin for the methods that may change state.
func (g *Gateway) sameOriginUnsafe(c *gin.Context) {
	switch c.Request.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		c.Next()
	default:
		g.sameOrigin(c)
	}
}

// crossSite returns why r is cross-site, or "" when it is not.
func (g *Gateway) crossSite(r *http.Request) string {
	if strings.EqualFold(strings.TrimSpace(r.Header.Get("Sec-Fetch-Site")), "cross-site") {
		return "Sec-Fetch-Site is cross-site"
	}
	origins := r.Header.Values("Origin")
	switch len(origins) {
	case 0:
		return ""
	case 1:
	default:
		return "several Origin headers"
	}
	o, err := parseOrigin(origins[0])
	if err != nil {
		return "Origin is not a scheme://host origin"
	}
	if o == g.ownOrigin(r) || g.origins[o] {
		return ""
	}
	return "Origin is not this service's"
}

// ownOrigin is the service's origin as the client addressed it: scheme
// and host of the request as received, or as forwarded by a trusted proxy.
func (g *Gateway) ownOrigin(r *http.Request) string {
	scheme, host := "http", r.Host
	if r.TLS != nil {
		scheme = "https"
	}
	if g.trust.trustedPeer(r) {
		if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
			host = h
		}
	}
	return normOrigin(scheme, host)
}

func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// parseOrigin validates an origin (scheme://host[:port], nothing else) and
// returns it normalised.
func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", err
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("scheme is not http or https")
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "":
		return "", errors.New("want scheme://host[:port] only")
	}
	return normOrigin(u.Scheme, u.Host), nil
}

// normOrigin lower-cases scheme and host and drops the scheme's default
// port, as browsers serialise Origin.
func normOrigin(scheme, host string) string {
	scheme, host = strings.ToLower(scheme), strings.ToLower(host)
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		host = strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		host = strings.TrimSuffix(host, ":443")
	}
	return scheme + "://" + host
}

// requireJSON refuses with 415 a request whose single Content-Type is not
// application/json (parameters such as charset are fine).
func (g *Gateway) requireJSON(c *gin.Context) {
	cts := c.Request.Header.Values("Content-Type")
	if len(cts) == 1 {
		if mt, _, err := mime.ParseMediaType(cts[0]); err == nil && mt == "application/json" {
			c.Next()
			return
		}
	}
	abort(c, http.StatusUnsupportedMediaType, codeUnsupportedMediaType, "Content-Type must be application/json")
}

// decodeJSON reads a small JSON object into v; it answers 400 itself and
// returns false on any problem. With allowEmpty an empty body is accepted
// (v is left as is).
func decodeJSON(c *gin.Context, v any, allowEmpty bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		msg := "cannot read the body"
		if errors.As(err, &tooBig) {
			msg = fmt.Sprintf("body larger than %d bytes", maxBodyBytes)
		}
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, msg)
		return false
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if allowEmpty {
			return true
		}
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, "empty body, want a JSON object")
		return false
	}
	if err := checkJSON(body); err != nil {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, err.Error())
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, decodeError(err))
		return false
	}
	return true
}

// decodeError describes a json.Decode error without Go type names.
func decodeError(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return fmt.Sprintf("field %q: wrong type (%s)", typeErr.Field, typeErr.Value)
	case errors.As(err, &typeErr):
		return "want a JSON object"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	}
	return "malformed JSON body"
}

// checkJSON walks the token stream of body: exactly one JSON value, well
// formed, whose objects (at every level) hold no key twice. Keys are
// compared case-insensitively, as encoding/json matches them to fields.
func checkJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]struct{}
	}
	var stack []*frame
	values := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			if len(stack) > 0 {
				return errors.New("malformed JSON body: unexpected end")
			}
			break
		}
		if err != nil {
			var syn *json.SyntaxError
			if errors.As(err, &syn) {
				return fmt.Errorf("malformed JSON body at byte %d", syn.Offset)
			}
			return errors.New("malformed JSON body")
		}
		if len(stack) == 0 {
			if values++; values > 1 {
				return errors.New("trailing data after the JSON value")
			}
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object {
			if top.expectKey {
				k := strings.ToLower(tok.(string)) // object keys are strings
				if _, dup := top.keys[k]; dup {
					return fmt.Errorf("duplicate key %q", tok)
				}
				if top.keys == nil {
					top.keys = make(map[string]struct{})
				}
				top.keys[k] = struct{}{}
				top.expectKey = false
				continue
			}
			top.expectKey = true // this token starts the key's value
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, &frame{object: d == '{', expectKey: true})
		}
	}
	return nil
}
