"""The Textual console: the app, its screens, widgets, dialogs and the demo traffic.

Import :class:`console.tui.app.ConsoleApp` from its module: this package
imports nothing itself, so the command line can use its Textual-free parts
(:mod:`console.tui.format`, :mod:`console.tui.rows`,
:mod:`console.tui.definitions`) without loading Textual.
"""
