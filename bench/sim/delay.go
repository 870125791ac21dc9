package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Delay is the distribution of the visibility delay h.
type Delay interface {
	// Draw returns one delay; it may use rng.
	Draw(rng *rand.Rand) time.Duration
	// Mean is the expected delay, the h of L ≈ 2λh.
	Mean() time.Duration
	String() string
}

// ConstantDelay is the whitepaper's fixed h. It draws nothing from the
// random stream.
type ConstantDelay time.Duration

// Draw returns d.
func (d ConstantDelay) Draw(*rand.Rand) time.Duration { return time.Duration(d) }

// Mean returns d.
func (d ConstantDelay) Mean() time.Duration { return time.Duration(d) }

func (d ConstantDelay) String() string { return seconds(time.Duration(d)) }

// ExpDelay is exponentially distributed with the given mean.
type ExpDelay time.Duration

// Draw returns an exponential delay.
func (d ExpDelay) Draw(rng *rand.Rand) time.Duration {
	return time.Duration(rng.ExpFloat64() * float64(d))
}

// Mean returns the mean.
func (d ExpDelay) Mean() time.Duration { return time.Duration(d) }

func (d ExpDelay) String() string { return "exp:" + seconds(time.Duration(d)) }

// UniformDelay is uniform on [Min, Max].
type UniformDelay struct{ Min, Max time.Duration }

// Draw returns a uniform delay.
func (d UniformDelay) Draw(rng *rand.Rand) time.Duration {
	return d.Min + time.Duration(rng.Float64()*float64(d.Max-d.Min))
}

// Mean returns (Min+Max)/2.
func (d UniformDelay) Mean() time.Duration { return (d.Min + d.Max) / 2 }

func (d UniformDelay) String() string {
	return "uniform:" + seconds(d.Min) + "," + seconds(d.Max)
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'g', -1, 64)
}

// ParseDelay reads a delay: a number of seconds ("2", "0.5") or a Go
// duration ("1500ms") for a constant h, "exp:MEAN" for an exponential one,
// "uniform:MIN,MAX" for a uniform one.
func ParseDelay(s string) (Delay, error) {
	kind, arg, found := strings.Cut(strings.TrimSpace(s), ":")
	if !found {
		d, err := parseSeconds(kind)
		if err != nil {
			return nil, err
		}
		return ConstantDelay(d), nil
	}
	switch kind {
	case "exp":
		d, err := parseSeconds(arg)
		if err != nil {
			return nil, err
		}
		return ExpDelay(d), nil
	case "uniform":
		lo, hi, ok := strings.Cut(arg, ",")
		if !ok {
			return nil, fmt.Errorf("%w: delay %q: uniform needs MIN,MAX", ErrConfig, s)
		}
		a, err := parseSeconds(lo)
		if err != nil {
			return nil, err
		}
		b, err := parseSeconds(hi)
		if err != nil {
			return nil, err
		}
		if b < a {
			return nil, fmt.Errorf("%w: delay %q: MAX below MIN", ErrConfig, s)
		}
		return UniformDelay{Min: a, Max: b}, nil
	}
	return nil, fmt.Errorf("%w: delay %q: want SECONDS, exp:MEAN or uniform:MIN,MAX", ErrConfig, s)
}

// parseSeconds reads a positive duration: "2", "0.25" (seconds) or
// "250ms" (a Go duration).
func parseSeconds(s string) (time.Duration, error) {
	d, err := ParseSeconds(s)
	if err == nil && d == 0 {
		err = fmt.Errorf("%w: %q must be positive", ErrConfig, s)
	}
	return d, err
}

// ParseSeconds reads a non-negative duration written as a number of
// seconds ("2", "0.25") or as a Go duration ("250ms", "1m").
func ParseSeconds(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if !(f >= 0) || f > math.MaxInt64/float64(time.Second) {
			return 0, fmt.Errorf("%w: %q is not a usable number of seconds", ErrConfig, s)
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%w: %q: want a number of seconds or a duration like 500ms", ErrConfig, s)
	}
	return d, nil
}

// ParseConfirm reads a confirmation rule: "cw:N" (cumulative weight at
// least N) or "aw:Q" (approval weight above the fraction Q of the
// issuers' total), with issuers "N" (N equal issuers) or "W1,W2,..."
// (their weights); issuers is ignored for "cw".
func ParseConfirm(rule, issuers string) (Confirm, error) {
	kind, arg, _ := strings.Cut(strings.TrimSpace(rule), ":")
	switch kind {
	case "cw":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 {
			return Confirm{}, fmt.Errorf("%w: confirm %q: want cw:N with N ≥ 1", ErrConfig, rule)
		}
		return Confirm{CWThreshold: n}, nil
	case "aw":
		q, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(q > 0 && q < 1) {
			return Confirm{}, fmt.Errorf("%w: confirm %q: want aw:Q with 0 < Q < 1", ErrConfig, rule)
		}
		c := Confirm{Quorum: q}
		if n, err := strconv.Atoi(issuers); err == nil && !strings.Contains(issuers, ",") {
			if n < 1 || n > MaxIssuers {
				return Confirm{}, fmt.Errorf("%w: issuers %d: want 1 to %d", ErrConfig, n, MaxIssuers)
			}
			for range n {
				c.Issuers = append(c.Issuers, 1)
			}
			return c, nil
		}
		for _, w := range strings.Split(issuers, ",") {
			f, err := strconv.ParseFloat(strings.TrimSpace(w), 64)
			if err != nil || !(f > 0) || math.IsInf(f, 0) {
				return Confirm{}, fmt.Errorf("%w: issuers %q: want N or positive weights W1,W2,...", ErrConfig, issuers)
			}
			c.Issuers = append(c.Issuers, f)
		}
		if len(c.Issuers) > MaxIssuers {
			return Confirm{}, fmt.Errorf("%w: %d issuers, at most %d", ErrConfig, len(c.Issuers), MaxIssuers)
		}
		return c, nil
	}
	return Confirm{}, fmt.Errorf("%w: confirm %q: want cw:N or aw:Q", ErrConfig, rule)
}
