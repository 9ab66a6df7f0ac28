package report

// Traffic is who sent a phase's requests: every user in turn, or users
// drawn from a Zipf distribution (a few heavy users, a long tail).
type Traffic struct {
	// Distribution is round-robin or zipf; Skew its exponent (0 for
	// round-robin).
	Distribution string  `json:"distribution"`
	Skew         float64 `json:"skew"`
	// ActiveUsers sent at least one request.
	ActiveUsers int `json:"active_users"`
	// TopUserShare, Top1PctShare and Top10PctShare are the shares of the
	// requests sent by the heaviest user, the heaviest 1 % and 10 %.
	TopUserShare  float64 `json:"top_user_share"`
	Top1PctShare  float64 `json:"top_1pct_share"`
	Top10PctShare float64 `json:"top_10pct_share"`
}
