package emulator

import (
	"fmt"
	"net/http"
)

// apiError is an error answered in Notion's form.
type apiError struct {
	status  int
	code    string
	message string
	extra   map[string]any // additional_data
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func validationf(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "validation_error", message: fmt.Sprintf(format, args...)}
}

func notFound(kind, id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "object_not_found",
		message: fmt.Sprintf("Could not find %s with ID: %s. Make sure the relevant pages and databases are shared with your integration.", kind, id)}
}

// Rate-limit reasons (additional_data.rate_limit_reason of a 429): the
// connection's budget (per token), the workspace's (shared by every
// token), an endpoint's, and a workspace that blocks API requests.
const (
	reasonConnection = "connection_rate_limit"
	reasonWorkspace  = "workspace_rate_limit"
	reasonEndpoint   = "endpoint_rate_limit"
	reasonBlocked    = "public_api_request_blocked"
)

var (
	errUnauthorized  = &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "API token is invalid."}
	errMissingVer    = &apiError{status: http.StatusBadRequest, code: "missing_version", message: "Notion-Version header failed validation: Notion-Version header should be defined, instead was `undefined`."}
	errInvalidJSON   = &apiError{status: http.StatusBadRequest, code: "invalid_json", message: "Error parsing JSON body."}
	errInvalidURL    = &apiError{status: http.StatusBadRequest, code: "invalid_request_url", message: "Invalid request URL."}
	errTooLarge      = &apiError{status: http.StatusRequestEntityTooLarge, code: "validation_error", message: "Request body too large: the limit is 500KB."}
	errInternal      = &apiError{status: http.StatusInternalServerError, code: "internal_server_error", message: "Unexpected error occurred."}
	errUnavailable   = &apiError{status: http.StatusServiceUnavailable, code: "service_unavailable", message: "Notion is unavailable, please try again later."}
	errRateLimited   = &apiError{status: http.StatusTooManyRequests, code: "rate_limited", message: "You have been rate limited. Please try again in a few minutes."}
	errInvalidCursor = validationf("start_cursor provided is invalid: it does not belong to these results.")
)
