"""The parts of a :class:`~bpdebug.tui.session.Session`, each a concern a reader can name: the runs it shows
(:mod:`.runs`), where the walk is and how it moves (:mod:`.walker`), the breakpoints and the search
(:mod:`.breakpoints`), what-if forks (:mod:`.forks`) and exports (:mod:`.exports`); the values they hand the app
are in :mod:`.values`, and those only an action builds after start-up (how a long run ended, a reload, the
breakpoints, a search's stop, the loss curves, the export choices) in :mod:`.outcomes`, imported with the first.
The session is these parts together (each a class over the shared state of :class:`.base.SessionState`); it adds
the selected parameter, watches, practice, the gradient check and the derivation text."""
