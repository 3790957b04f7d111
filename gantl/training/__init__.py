"""What every method and GAN shares: batch sampling across domains, schedules, epoch averaging,
and the validate-and-keep-best loop. An algorithm file imports this toolkit; the toolkit
imports no algorithm."""
