package sockets

import "fmt"

// logger writes leveled lines to Options.Logger.
type logger struct {
	opts *Options
}

func (l logger) enabled(level int) bool {
	return !l.opts.SkipLogging && l.opts.LogLevel >= level
}

func (l logger) logf(level int, format string, args ...interface{}) {
	if !l.enabled(level) {
		return
	}
	l.opts.Logger.Output(3, levelNames[level]+" "+fmt.Sprintf(format, args...))
}

var levelNames = [...]string{
	LogLevelError:   "ERROR",
	LogLevelWarning: "WARN",
	LogLevelInfo:    "INFO",
	LogLevelDebug:   "DEBUG",
}

func (l logger) errorf(format string, args ...interface{}) { l.logf(LogLevelError, format, args...) }
func (l logger) warnf(format string, args ...interface{})  { l.logf(LogLevelWarning, format, args...) }
func (l logger) infof(format string, args ...interface{})  { l.logf(LogLevelInfo, format, args...) }
func (l logger) debugf(format string, args ...interface{}) { l.logf(LogLevelDebug, format, args...) }
