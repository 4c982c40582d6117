"""What builds the book, beside the library it teaches: the chapter pipeline, the Sphinx
extensions, coursework and self-checks, figures and number formatting, the diagram, the
chapters' companion modules (``lowpass``, ``architectures``, ``probes``, ``recipe``) and
the sentences about the evidence.

It needs the ``book`` extra (``pip install 'hybridlib[book]'``). It uses the library;
the library never imports from here.
"""
