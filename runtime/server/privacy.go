package server

import "github.com/websonic/websonic/runtime/internal/jobs"

// coreJobs are the runtime's own scheduled jobs (privacy.go).
func (s *Server) coreJobs() []jobs.CoreJob { return nil }
