// Empty: ecg_<folder>_floor (cmake/EcgFolders.cmake) is the folder's whole
// library linked with --no-undefined against the floors below it; a shared
// object needs one source of its own.
