package main

import (
	"fmt"
	"strconv"
	"strings"
)

// percentValue is a flag "N%" (or a fraction 0–1) kept as a fraction.
type percentValue float64

func (p *percentValue) String() string {
	if *p == 0 {
		return "0"
	}
	return strconv.FormatFloat(float64(*p)*100, 'f', -1, 64) + "%"
}

func (p *percentValue) Type() string { return "percent" }

func (p *percentValue) Set(s string) error {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err == nil && pct {
		v /= 100
	}
	if err != nil || v <= 0 || v > 1 {
		return fmt.Errorf("%q: give a percentage from 0%% to 100%% (e.g. 10%%)", s)
	}
	*p = percentValue(v)
	return nil
}
