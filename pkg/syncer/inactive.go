package syncer

// inactiveMessage ends a run, and holds back pushes, of an integration
// whose is_active was set false: Joinery makes no call to its platform.
const inactiveMessage = "The integration is not active; set is_active to sync it again."
