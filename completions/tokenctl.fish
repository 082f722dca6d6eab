complete --keep-order --exclusive --command tokenctl --arguments "(COMPLETE=fish tokenctl -- (commandline --current-process --tokenize --cut-at-cursor) (commandline --current-token))"
