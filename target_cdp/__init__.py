"""target-cdp: route Singer streams to Dmartech, EngageLab and NXCloud."""
