package alerts

// RateLimitStep exports rateLimitStep to the tests.
var RateLimitStep = rateLimitStep
