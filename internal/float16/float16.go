// Package float16 converts IEEE 754 half-precision numbers (binary16), as devices send them in two bytes (a
// Modbus register, a byte payload read with the expression converters' readFloat), to and from float64.
package float16

import "math"

// Frombits returns the number whose half-precision representation is h: subnormals, ±Inf and NaN included.
func Frombits(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp, frac := int(h>>10&0x1f), float64(h&0x3ff)
	switch exp {
	case 0:
		return sign * math.Ldexp(frac, -24)
	case 0x1f:
		if frac == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * math.Ldexp(1+frac/1024, exp-15)
}

// Bits returns the half-precision representation of f, rounded to nearest even: beyond the largest half
// (65504, rounding up from 65520) it is ±Inf, below the smallest subnormal it is ±0, and NaN is the quiet NaN
// 0x7e00.
func Bits(f float64) uint16 {
	var sign uint16
	if math.Signbit(f) {
		sign, f = 0x8000, -f
	}
	switch {
	case math.IsNaN(f):
		return 0x7e00
	case f >= 65520:
		return sign | 0x7c00
	case f < math.Ldexp(1, -14):
		return sign | uint16(math.RoundToEven(f*math.Ldexp(1, 24)))
	}
	frac, exp := math.Frexp(f) // f = frac * 2^exp, frac in [0.5, 1)
	e := exp - 1 + 15
	m := uint16(math.RoundToEven((frac*2 - 1) * 1024))
	if m == 1024 {
		m, e = 0, e+1
	}
	if e >= 0x1f {
		return sign | 0x7c00
	}
	return sign | uint16(e)<<10 | m
}
