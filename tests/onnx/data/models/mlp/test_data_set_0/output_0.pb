
BprobsJ(Î*!=ÑÑ=dŽŒ=hi7==´>c¦Ù<Ld‹=t§=BT>ýà=