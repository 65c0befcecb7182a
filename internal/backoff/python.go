package backoff

import "time"

// Constructors from the Python gateway's configuration keys. Each returns a Policy with the default jitter and
// HealthyAfter; callers may change fields before New.

// Fixed retries every period: the Python keys reconnectPeriod (CAN, ODBC, in seconds) and the MQTT connector's
// fixed 10 s broker reconnect.
func Fixed(period time.Duration) Policy {
	return Policy{Initial: period, Max: period, Multiplier: 1}
}

// Exponential starts at initial and multiplies by factor after each failure, up to maxDelay: the OPC-UA keys
// reconnectBackoffInitialDelay and reconnectBackoffFactor (see OPCUA).
func Exponential(initial time.Duration, factor float64, maxDelay time.Duration) Policy {
	return Policy{Initial: initial, Max: max(maxDelay, initial), Multiplier: max(factor, 1)}
}

// OPCUA is the OPC-UA connector's reconnect: reconnectBackoffInitialDelay seconds, times reconnectBackoffFactor
// per failure, capped at 80 % of sessionTimeoutInMillis (as the Python connector does).
func OPCUA(initialDelaySeconds, factor float64, sessionTimeout time.Duration) Policy {
	return Exponential(seconds(initialDelaySeconds), factor, sessionTimeout*8/10)
}

// Attempts makes count attempts every apart, then waits waitAfter, and starts over: the BLE keys
// connectRetryInSeconds, connectRetry and waitAfterConnectRetries. count < 2 means one attempt per cycle.
func Attempts(every time.Duration, count int, waitAfter time.Duration) Policy {
	if every <= 0 {
		every = time.Millisecond // the Python connectors retry at once; keep a floor so a loop cannot spin
	}
	waitAfter = max(waitAfter, every)
	return Policy{
		Initial: every, Max: waitAfter, SteadyAttempts: max(count, 1), Cycle: true,
		// one step from every to waitAfter: the delay after the count-th failure is waitAfter
		Multiplier: max(float64(waitAfter)/float64(every), 1),
	}
}

// Modbus is a Modbus slave's reconnect from connectAttemptTimeMs, connectAttemptCount and
// waitAfterFailedAttemptsMs, with the Python connector's lower bounds (500 ms, 2, 30000 ms) applied.
func Modbus(connectAttemptTimeMs float64, connectAttemptCount int, waitAfterFailedAttemptsMs float64) Policy {
	return Attempts(millis(max(connectAttemptTimeMs, 500)), max(connectAttemptCount, 2),
		millis(max(waitAfterFailedAttemptsMs, 30000)))
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func millis(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
