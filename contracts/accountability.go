// Code generated - DO NOT EDIT.
// This file is a generated binding and any manual changes will be lost.

package contracts

import (
	"context"
	"errors"
	"math/big"
	"strings"
	"time"

	ethereum "github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/accounts/abi"
	"github.com/ethereum/go-ethereum/accounts/abi/bind"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/event"
)

// Reference imports to suppress errors if they are not otherwise used.
var (
	_ = errors.New
	_ = big.NewInt
	_ = strings.NewReader
	_ = ethereum.NotFound
	_ = bind.Bind
	_ = common.Big1
	_ = types.BloomLookup
	_ = event.NewSubscription
	_ = abi.ConvertType
	_ = time.Tick
	_ = context.Background
)

// SequencerAccountabilityCheckpoint is an auto generated low-level Go binding around an user-defined struct.
type SequencerAccountabilityCheckpoint struct {
	Size      uint64
	Root      [32]byte
	Timestamp uint64
}

// SequencerAccountabilityEntry is an auto generated low-level Go binding around an user-defined struct.
type SequencerAccountabilityEntry struct {
	Seq        uint64
	PrevHash   [32]byte
	Kind       uint8
	Sender     common.Address
	Lineage    string
	Nonce      uint64
	ExternalId string
	DataHash   [32]byte
	Timestamp  uint64
}

// SequencerAccountabilityMetaData contains all meta data concerning the SequencerAccountability contract.
var SequencerAccountabilityMetaData = &bind.MetaData{
	ABI: "[{\"inputs\":[{\"internalType\":\"address\",\"name\":\"primary\",\"type\":\"address\"},{\"internalType\":\"uint256\",\"name\":\"logChainId\",\"type\":\"uint256\"},{\"internalType\":\"address\",\"name\":\"logVerifyingContract\",\"type\":\"address\"},{\"internalType\":\"uint64\",\"name\":\"unbondingSeconds\",\"type\":\"uint64\"}],\"stateMutability\":\"nonpayable\",\"type\":\"constructor\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"name\":\"Anchored\",\"type\":\"event\"},{\"anonymous\":false,\"inputs\":[{\"indexed\":true,\"internalType\":\"address\",\"name\":\"by\",\"type\":\"address\"},{\"indexed\":false,\"internalType\":\"uint64\",\"name\":\"position\",\"type\":\"uint64\"},{\"indexed\":false,\"internalType\":\"uint256\",\"name\":\"amount\",\"type\":\"uint256\"}],\"name\":\"Slashed\",\"type\":\"event\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Checkpoint\",\"name\":\"c\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sig\",\"type\":\"bytes\"}],\"name\":\"anchor\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"bond\",\"outputs\":[],\"stateMutability\":\"payable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"bonded\",\"outputs\":[{\"internalType\":\"uint256\",\"name\":\"\",\"type\":\"uint256\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Checkpoint\",\"name\":\"c\",\"type\":\"tuple\"}],\"name\":\"checkpointHash\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"seq\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"prevHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint8\",\"name\":\"kind\",\"type\":\"uint8\"},{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"lineage\",\"type\":\"string\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"string\",\"name\":\"externalId\",\"type\":\"string\"},{\"internalType\":\"bytes32\",\"name\":\"dataHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Entry\",\"name\":\"e\",\"type\":\"tuple\"}],\"name\":\"entryHash\",\"outputs\":[{\"internalType\":\"bytes32\",\"name\":\"\",\"type\":\"bytes32\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"latestAnchor\",\"outputs\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"requestWithdrawal\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Checkpoint\",\"name\":\"a\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigA\",\"type\":\"bytes\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Checkpoint\",\"name\":\"b\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigB\",\"type\":\"bytes\"}],\"name\":\"slashCheckpointEquivocation\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"seq\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"prevHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint8\",\"name\":\"kind\",\"type\":\"uint8\"},{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"lineage\",\"type\":\"string\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"string\",\"name\":\"externalId\",\"type\":\"string\"},{\"internalType\":\"bytes32\",\"name\":\"dataHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Entry\",\"name\":\"a\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigA\",\"type\":\"bytes\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"seq\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"prevHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint8\",\"name\":\"kind\",\"type\":\"uint8\"},{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"lineage\",\"type\":\"string\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"string\",\"name\":\"externalId\",\"type\":\"string\"},{\"internalType\":\"bytes32\",\"name\":\"dataHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Entry\",\"name\":\"b\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigB\",\"type\":\"bytes\"}],\"name\":\"slashEquivocation\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[{\"components\":[{\"internalType\":\"uint64\",\"name\":\"size\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"root\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Checkpoint\",\"name\":\"c\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigC\",\"type\":\"bytes\"},{\"components\":[{\"internalType\":\"uint64\",\"name\":\"seq\",\"type\":\"uint64\"},{\"internalType\":\"bytes32\",\"name\":\"prevHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint8\",\"name\":\"kind\",\"type\":\"uint8\"},{\"internalType\":\"address\",\"name\":\"sender\",\"type\":\"address\"},{\"internalType\":\"string\",\"name\":\"lineage\",\"type\":\"string\"},{\"internalType\":\"uint64\",\"name\":\"nonce\",\"type\":\"uint64\"},{\"internalType\":\"string\",\"name\":\"externalId\",\"type\":\"string\"},{\"internalType\":\"bytes32\",\"name\":\"dataHash\",\"type\":\"bytes32\"},{\"internalType\":\"uint64\",\"name\":\"timestamp\",\"type\":\"uint64\"}],\"internalType\":\"structSequencerAccountability.Entry\",\"name\":\"e\",\"type\":\"tuple\"},{\"internalType\":\"bytes\",\"name\":\"sigE\",\"type\":\"bytes\"},{\"internalType\":\"bytes32\",\"name\":\"leafEntryHash\",\"type\":\"bytes32\"},{\"internalType\":\"bytes32[]\",\"name\":\"proof\",\"type\":\"bytes32[]\"}],\"name\":\"slashInclusion\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"slashed\",\"outputs\":[{\"internalType\":\"bool\",\"name\":\"\",\"type\":\"bool\"}],\"stateMutability\":\"view\",\"type\":\"function\"},{\"inputs\":[],\"name\":\"withdraw\",\"outputs\":[],\"stateMutability\":\"nonpayable\",\"type\":\"function\"}]",
	Bin: "0x60e060405234801561000f575f5ffd5b50604051611a34380380611a3483398101604081905261002e9161016e565b6001600160a01b0384166100885760405162461bcd60e51b815260206004820152601b60248201527f7072696d61727920697320746865207a65726f20616464726573730000000000604482015260640160405180910390fd5b6001600160a01b0384811660809081526001600160401b03831660c0908152604080517f8b73c3c69bb8fe3d512ecc4cf759cc79239f7b179b0ffacaa9a75d522b39400f60208201527f8f9108eeacf8ad3cc1ec9f4b67c4a2e642b57c658c546aea400cb30af39520ef918101919091527fc89efdaa54c0f20c7adf612882df0950f5a951637e0307cdcb4c672f298b8bc6606082015291820186905291841660a08201520160408051601f19818403018152919052805160209091012060a052506101c692505050565b80516001600160a01b0381168114610169575f5ffd5b919050565b5f5f5f5f60808587031215610181575f5ffd5b61018a85610153565b93506020850151925061019f60408601610153565b60608601519092506001600160401b03811681146101bb575f5ffd5b939692955090935050565b60805160a05160c05161182f6102055f395f610aba01525f610ff901525f8181610562015281816106bc01528181610a2c0152610e2b015261182f5ff3fe6080604052600436106100a5575f3560e01c806364c9ec6f1161006257806364c9ec6f1461019a578063a019b702146101a2578063cb1380a8146101c1578063dbaf2145146101e0578063e88dc357146101f4578063f33ac93d14610207575f5ffd5b80630695eaef146100a95780630a1ca632146100ca57806310830a90146100f8578063245c88d81461011757806326866f94146101595780633ccfd60b14610186575b5f5ffd5b3480156100b4575f5ffd5b506100c86100c3366004611329565b610226565b005b3480156100d5575f5ffd5b50600254600160c01b900460ff1660405190151581526020015b60405180910390f35b348015610103575f5ffd5b506100c86101123660046113f9565b61031d565b348015610122575f5ffd5b50600254600154604080516001600160401b0380851682526020820193909352600160401b909304909116908201526060016100ef565b348015610164575f5ffd5b5061017861017336600461146d565b610408565b6040519081526020016100ef565b348015610191575f5ffd5b506100c8610557565b6100c8610769565b3480156101ad575f5ffd5b506101786101bc3660046114a6565b6107e4565b3480156101cc575f5ffd5b506100c86101db366004611500565b610878565b3480156101eb575f5ffd5b506100c8610a21565b3480156101ff575f5ffd5b505f54610178565b348015610212575f5ffd5b506100c86102213660046115e2565b610b07565b6102336020840184611631565b6001600160401b03166102496020880188611631565b6001600160401b0316146102945760405162461bcd60e51b815260206004820152600d60248201526c646966666572656e742073657160981b60448201526064015b60405180910390fd5b5f61029e87610408565b90505f6102aa85610408565b90508082036102e85760405162461bcd60e51b815260206004820152600a60248201526973616d6520656e74727960b01b604482015260640161028b565b6102f3828888610c6b565b6102fe818585610c6b565b61031361030e60208a018a611631565b610eb4565b5050505050505050565b61032a6020840184611631565b6001600160401b03166103406020880188611631565b6001600160401b0316146103875760405162461bcd60e51b815260206004820152600e60248201526d646966666572656e742073697a6560901b604482015260640161028b565b82602001358660200135036103ca5760405162461bcd60e51b81526020600482015260096024820152681cd85b59481c9bdbdd60ba1b604482015260640161028b565b6103dd6103d6876107e4565b8686610c6b565b6103f06103e9846107e4565b8383610c6b565b61040061030e6020880188611631565b505050505050565b5f807f8266d7a810acfb3e7b68af7da3d9d76434bc91e76a619ab152275d404b6f83376104386020850185611631565b602085013561044d6060870160408801611657565b61045d6080880160608901611677565b61046a608089018961169d565b6040516104789291906116df565b60405190819003902061049160c08a0160a08b01611631565b61049e60c08b018b61169d565b6040516104ac9291906116df565b60405190819003902060e08b01356104cc6101208d016101008e01611631565b60408051602081019b909b526001600160401b03998a16908b015260608a019790975260ff90951660808901526001600160a01b0390931660a088015260c0870191909152841660e0860152610100850152610120840152166101408201526101600160405160208183030381529060405280519060200120905061055081610fe9565b9392505050565b336001600160a01b037f000000000000000000000000000000000000000000000000000000000000000016146105c15760405162461bcd60e51b815260206004820152600f60248201526e6e6f7420746865207072696d61727960881b604482015260640161028b565b600254600160c01b900460ff16156105eb5760405162461bcd60e51b815260040161028b906116ee565b600254600160801b90046001600160401b03165f0361064c5760405162461bcd60e51b815260206004820152601760248201527f6e6f207769746864726177616c20726571756573746564000000000000000000604482015260640161028b565b600254600160801b90046001600160401b031642101561069a5760405162461bcd60e51b8152602060048201526009602482015268756e626f6e64696e6760b81b604482015260640161028b565b5f80548180556002805467ffffffffffffffff60801b191690556040519091907f00000000000000000000000000000000000000000000000000000000000000006001600160a01b03169083908381818185875af1925050503d805f811461071d576040519150601f19603f3d011682016040523d82523d5f602084013e610722565b606091505b50509050806107655760405162461bcd60e51b815260206004820152600f60248201526e1d1c985b9cd9995c8819985a5b1959608a1b604482015260640161028b565b5050565b600254600160c01b900460ff16156107935760405162461bcd60e51b815260040161028b906116ee565b5f34116107cd5760405162461bcd60e51b81526020600482015260086024820152676e6f2076616c756560c01b604482015260640161028b565b345f5f8282546107dd9190611723565b9091555050565b5f6108727f3ef3d7823f2b092caa2310a4143d5a49ab3e7eb1c0388d8ebdf6dd4ca3a642ca6108166020850185611631565b602085013561082b6060870160408801611631565b6040805160208101959095526001600160401b0393841690850152606084019190915216608082015260a00160405160208183030381529060405280519060200120610fe9565b92915050565b60016108876020880188611631565b6001600160401b0316101580156108c857506108a660208a018a611631565b6001600160401b03166108bc6020880188611631565b6001600160401b031611155b6109145760405162461bcd60e51b815260206004820152601c60248201527f656e747279206f7574736964652074686520636865636b706f696e7400000000604482015260640161028b565b5f61091e87610408565b905080840361096f5760405162461bcd60e51b815260206004820152601860248201527f746865207472656520686f6c64732074686520656e7472790000000000000000604482015260640161028b565b61098261097b8b6107e4565b8a8a610c6b565b61098d818787610c6b565b6109c3600161099f60208a018a611631565b6109a99190611736565b6109b660208d018d611631565b8686868f60200135611046565b610a055760405162461bcd60e51b81526020600482015260136024820152723130b21034b731b63ab9b4b7b710383937b7b360691b604482015260640161028b565b610a1561030e6020890189611631565b50505050505050505050565b336001600160a01b037f00000000000000000000000000000000000000000000000000000000000000001614610a8b5760405162461bcd60e51b815260206004820152600f60248201526e6e6f7420746865207072696d61727960881b604482015260640161028b565b600254600160c01b900460ff1615610ab55760405162461bcd60e51b815260040161028b906116ee565b610adf7f000000000000000000000000000000000000000000000000000000000000000042611755565b600260106101000a8154816001600160401b0302191690836001600160401b03160217905550565b6002546001600160401b0316610b206020850185611631565b6001600160401b031611610b765760405162461bcd60e51b815260206004820152601f60248201527f6e6f74206c6172676572207468616e20746865206c61737420616e63686f7200604482015260640161028b565b610b826103e9846107e4565b610b8f6020840184611631565b6002805467ffffffffffffffff19166001600160401b03929092169190911790556020830135600155610bc86060840160408501611631565b600280546001600160401b0392909216600160401b026fffffffffffffffff0000000000000000199092169190911790557f8a625ff6b600489e76c9caf3b3e78a6b1cf48af724479bd7bdca61de573a6412610c276020850185611631565b6020850135610c3c6060870160408801611631565b604080516001600160401b039485168152602081019390935292168183015290519081900360600190a1505050565b60418114610cbb5760405162461bcd60e51b815260206004820152601960248201527f7369676e6174757265206973206e6f7420363520627974657300000000000000604482015260640161028b565b5f610cc96020828486611774565b610cd29161179b565b90505f610ce3604060208587611774565b610cec9161179b565b90505f84846040818110610d0257610d026117b8565b919091013560f81c915050601b811480610d1f57508060ff16601c145b610d5f5760405162461bcd60e51b81526020600482015260116024820152700ec40d2e640dcdee840646e40dee440647607b1b604482015260640161028b565b7f7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0821115610db85760405162461bcd60e51b815260206004820152600660248201526568696768207360d01b604482015260640161028b565b604080515f8082526020820180845289905260ff841692820192909252606081018590526080810184905260019060a0016020604051602081039080840390855afa158015610e09573d5f5f3e3d5ffd5b5050604051601f1901519150506001600160a01b03811615801590610e5f57507f00000000000000000000000000000000000000000000000000000000000000006001600160a01b0316816001600160a01b0316145b610eab5760405162461bcd60e51b815260206004820152601960248201527f6e6f74207369676e656420627920746865207072696d61727900000000000000604482015260640161028b565b50505050505050565b600254600160c01b900460ff1615610f005760405162461bcd60e51b815260206004820152600f60248201526e185b1c9958591e481cdb185cda1959608a1b604482015260640161028b565b6002805460ff60c01b1916600160c01b1790555f8054908055604080516001600160401b03841681526020810183905233917fcb948a4b3bd792612efc104e791eeee49cf05730be562c45a1de4786026eae3a910160405180910390a26040515f90339083908381818185875af1925050503d805f8114610f9c576040519150601f19603f3d011682016040523d82523d5f602084013e610fa1565b606091505b5050905080610fe45760405162461bcd60e51b815260206004820152600f60248201526e1d1c985b9cd9995c8819985a5b1959608a1b604482015260640161028b565b505050565b60405161190160f01b60208201527f00000000000000000000000000000000000000000000000000000000000000006022820152604281018290525f90606201604051602081830303815290604052805190602001209050919050565b5f856001600160401b0316876001600160401b03161061106757505f6112c4565b6001600160401b0387165f61107d600189611736565b6040515f60208201819052602182018a90526001600160401b0392909216925060029060410160408051601f19818403018152908290526110bd916117cc565b602060405180830381855afa1580156110d8573d5f5f3e3d5ffd5b5050506040513d601f19601f820116820180604052508101906110fb91906117e2565b90505f5b868110156112b057825f0361111a575f9450505050506112c4565b836001166001148061112b57508284145b156111fc576002600160f81b898984818110611149576111496117b8565b6040516001600160f81b03199094166020858101919091520291909101356021830152506041810184905260610160408051601f1981840301815290829052611191916117cc565b602060405180830381855afa1580156111ac573d5f5f3e3d5ffd5b5050506040513d601f19601f820116820180604052508101906111cf91906117e2565b91505b600184161580156111e257508315155b156111f757600193841c939290921c916111d2565b6112a0565b6002600160f81b838a8a85818110611216576112166117b8565b6040516001600160f81b0319909516602086810191909152602186019490945292909202013560418301525060610160408051601f198184030181529082905261125f916117cc565b602060405180830381855afa15801561127a573d5f5f3e3d5ffd5b5050506040513d601f19601f8201168201806040525081019061129d91906117e2565b91505b600193841c9392831c92016110ff565b50811580156112be57508481145b93505050505b9695505050505050565b5f61012082840312156112df575f5ffd5b50919050565b5f5f83601f8401126112f5575f5ffd5b5081356001600160401b0381111561130b575f5ffd5b602083019150836020828501011115611322575f5ffd5b9250929050565b5f5f5f5f5f5f6080878903121561133e575f5ffd5b86356001600160401b03811115611353575f5ffd5b61135f89828a016112ce565b96505060208701356001600160401b0381111561137a575f5ffd5b61138689828a016112e5565b90965094505060408701356001600160401b038111156113a4575f5ffd5b6113b089828a016112ce565b93505060608701356001600160401b038111156113cb575f5ffd5b6113d789828a016112e5565b979a9699509497509295939492505050565b5f606082840312156112df575f5ffd5b5f5f5f5f5f5f610100878903121561140f575f5ffd5b61141988886113e9565b955060608701356001600160401b03811115611433575f5ffd5b61143f89828a016112e5565b9096509450611453905088608089016113e9565b925060e08701356001600160401b038111156113cb575f5ffd5b5f6020828403121561147d575f5ffd5b81356001600160401b03811115611492575f5ffd5b61149e848285016112ce565b949350505050565b5f606082840312156114b6575f5ffd5b61055083836113e9565b5f5f83601f8401126114d0575f5ffd5b5081356001600160401b038111156114e6575f5ffd5b6020830191508360208260051b8501011115611322575f5ffd5b5f5f5f5f5f5f5f5f5f6101008a8c031215611519575f5ffd5b6115238b8b6113e9565b985060608a01356001600160401b0381111561153d575f5ffd5b6115498c828d016112e5565b90995097505060808a01356001600160401b03811115611567575f5ffd5b6115738c828d016112ce565b96505060a08a01356001600160401b0381111561158e575f5ffd5b61159a8c828d016112e5565b90965094505060c08a0135925060e08a01356001600160401b038111156115bf575f5ffd5b6115cb8c828d016114c0565b915080935050809150509295985092959850929598565b5f5f5f608084860312156115f4575f5ffd5b6115fe85856113e9565b925060608401356001600160401b03811115611618575f5ffd5b611624868287016112e5565b9497909650939450505050565b5f60208284031215611641575f5ffd5b81356001600160401b0381168114610550575f5ffd5b5f60208284031215611667575f5ffd5b813560ff81168114610550575f5ffd5b5f60208284031215611687575f5ffd5b81356001600160a01b0381168114610550575f5ffd5b5f5f8335601e198436030181126116b2575f5ffd5b8301803591506001600160401b038211156116cb575f5ffd5b602001915036819003821315611322575f5ffd5b818382375f9101908152919050565b6020808252600790820152661cdb185cda195960ca1b604082015260600190565b634e487b7160e01b5f52601160045260245ffd5b808201808211156108725761087261170f565b6001600160401b0382811682821603908111156108725761087261170f565b6001600160401b0381811683821601908111156108725761087261170f565b5f5f85851115611782575f5ffd5b8386111561178e575f5ffd5b5050820193919092039150565b80356020831015610872575f19602084900360031b1b1692915050565b634e487b7160e01b5f52603260045260245ffd5b5f82518060208501845e5f920191825250919050565b5f602082840312156117f2575f5ffd5b505191905056fea26469706673582212202d0b84ec2ef1490e94c3b6f2e73165c562a24b75465e3fcfd333d46df85c902b64736f6c63430008250033",
}

// SequencerAccountabilityABI is the input ABI used to generate the binding from.
// Deprecated: Use SequencerAccountabilityMetaData.ABI instead.
var SequencerAccountabilityABI = SequencerAccountabilityMetaData.ABI

// SequencerAccountabilityBin is the compiled bytecode used for deploying new contracts.
// Deprecated: Use SequencerAccountabilityMetaData.Bin instead.
var SequencerAccountabilityBin = SequencerAccountabilityMetaData.Bin

// DeploySequencerAccountability deploys a new Ethereum contract, binding an instance of SequencerAccountability to it.
func DeploySequencerAccountability(auth *bind.TransactOpts, backend bind.ContractBackend, primary common.Address, logChainId *big.Int, logVerifyingContract common.Address, unbondingSeconds uint64) (common.Address, *types.Transaction, *SequencerAccountability, error) {
	parsed, err := SequencerAccountabilityMetaData.GetAbi()
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	if parsed == nil {
		return common.Address{}, nil, nil, errors.New("GetABI returned nil")
	}

	address, tx, contract, err := bind.DeployContract(auth, *parsed, common.FromHex(SequencerAccountabilityBin), backend, primary, logChainId, logVerifyingContract, unbondingSeconds)
	if err != nil {
		return common.Address{}, nil, nil, err
	}
	return address, tx, &SequencerAccountability{SequencerAccountabilityCaller: SequencerAccountabilityCaller{contract: contract}, SequencerAccountabilityTransactor: SequencerAccountabilityTransactor{contract: contract}, SequencerAccountabilityFilterer: SequencerAccountabilityFilterer{contract: contract}}, nil
}

// SequencerAccountability is an auto generated Go binding around an Ethereum contract.
type SequencerAccountability struct {
	SequencerAccountabilityCaller     // Read-only binding to the contract
	SequencerAccountabilityTransactor // Write-only binding to the contract
	SequencerAccountabilityFilterer   // Log filterer for contract events
}

// SequencerAccountabilityCaller is an auto generated read-only Go binding around an Ethereum contract.
type SequencerAccountabilityCaller struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// SequencerAccountabilityTransactor is an auto generated write-only Go binding around an Ethereum contract.
type SequencerAccountabilityTransactor struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// SequencerAccountabilityFilterer is an auto generated log filtering Go binding around an Ethereum contract events.
type SequencerAccountabilityFilterer struct {
	contract *bind.BoundContract // Generic contract wrapper for the low level calls
}

// SequencerAccountabilitySession is an auto generated Go binding around an Ethereum contract,
// with pre-set call and transact options.
type SequencerAccountabilitySession struct {
	Contract     *SequencerAccountability // Generic contract binding to set the session for
	CallOpts     bind.CallOpts            // Call options to use throughout this session
	TransactOpts bind.TransactOpts        // Transaction auth options to use throughout this session
}

// SequencerAccountabilityCallerSession is an auto generated read-only Go binding around an Ethereum contract,
// with pre-set call options.
type SequencerAccountabilityCallerSession struct {
	Contract *SequencerAccountabilityCaller // Generic contract caller binding to set the session for
	CallOpts bind.CallOpts                  // Call options to use throughout this session
}

// SequencerAccountabilityTransactorSession is an auto generated write-only Go binding around an Ethereum contract,
// with pre-set transact options.
type SequencerAccountabilityTransactorSession struct {
	Contract     *SequencerAccountabilityTransactor // Generic contract transactor binding to set the session for
	TransactOpts bind.TransactOpts                  // Transaction auth options to use throughout this session
}

// SequencerAccountabilityRaw is an auto generated low-level Go binding around an Ethereum contract.
type SequencerAccountabilityRaw struct {
	Contract *SequencerAccountability // Generic contract binding to access the raw methods on
}

// SequencerAccountabilityCallerRaw is an auto generated low-level read-only Go binding around an Ethereum contract.
type SequencerAccountabilityCallerRaw struct {
	Contract *SequencerAccountabilityCaller // Generic read-only contract binding to access the raw methods on
}

// SequencerAccountabilityTransactorRaw is an auto generated low-level write-only Go binding around an Ethereum contract.
type SequencerAccountabilityTransactorRaw struct {
	Contract *SequencerAccountabilityTransactor // Generic write-only contract binding to access the raw methods on
}

// NewSequencerAccountability creates a new instance of SequencerAccountability, bound to a specific deployed contract.
func NewSequencerAccountability(address common.Address, backend bind.ContractBackend) (*SequencerAccountability, error) {
	contract, err := bindSequencerAccountability(address, backend, backend, backend)
	if err != nil {
		return nil, err
	}
	return &SequencerAccountability{SequencerAccountabilityCaller: SequencerAccountabilityCaller{contract: contract}, SequencerAccountabilityTransactor: SequencerAccountabilityTransactor{contract: contract}, SequencerAccountabilityFilterer: SequencerAccountabilityFilterer{contract: contract}}, nil
}

// NewSequencerAccountabilityCaller creates a new read-only instance of SequencerAccountability, bound to a specific deployed contract.
func NewSequencerAccountabilityCaller(address common.Address, caller bind.ContractCaller) (*SequencerAccountabilityCaller, error) {
	contract, err := bindSequencerAccountability(address, caller, nil, nil)
	if err != nil {
		return nil, err
	}
	return &SequencerAccountabilityCaller{contract: contract}, nil
}

// NewSequencerAccountabilityTransactor creates a new write-only instance of SequencerAccountability, bound to a specific deployed contract.
func NewSequencerAccountabilityTransactor(address common.Address, transactor bind.ContractTransactor) (*SequencerAccountabilityTransactor, error) {
	contract, err := bindSequencerAccountability(address, nil, transactor, nil)
	if err != nil {
		return nil, err
	}
	return &SequencerAccountabilityTransactor{contract: contract}, nil
}

// NewSequencerAccountabilityFilterer creates a new log filterer instance of SequencerAccountability, bound to a specific deployed contract.
func NewSequencerAccountabilityFilterer(address common.Address, filterer bind.ContractFilterer) (*SequencerAccountabilityFilterer, error) {
	contract, err := bindSequencerAccountability(address, nil, nil, filterer)
	if err != nil {
		return nil, err
	}
	return &SequencerAccountabilityFilterer{contract: contract}, nil
}

// bindSequencerAccountability binds a generic wrapper to an already deployed contract.
func bindSequencerAccountability(address common.Address, caller bind.ContractCaller, transactor bind.ContractTransactor, filterer bind.ContractFilterer) (*bind.BoundContract, error) {
	parsed, err := SequencerAccountabilityMetaData.GetAbi()
	if err != nil {
		return nil, err
	}
	return bind.NewBoundContract(address, *parsed, caller, transactor, filterer), nil
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_SequencerAccountability *SequencerAccountabilityRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _SequencerAccountability.Contract.SequencerAccountabilityCaller.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_SequencerAccountability *SequencerAccountabilityRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SequencerAccountabilityTransactor.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_SequencerAccountability *SequencerAccountabilityRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SequencerAccountabilityTransactor.contract.Transact(opts, method, params...)
}

// Call invokes the (constant) contract method with params as input values and
// sets the output to result. The result type might be a single field for simple
// returns, a slice of interfaces for anonymous returns and a struct for named
// returns.
func (_SequencerAccountability *SequencerAccountabilityCallerRaw) Call(opts *bind.CallOpts, result *[]interface{}, method string, params ...interface{}) error {
	return _SequencerAccountability.Contract.contract.Call(opts, result, method, params...)
}

// Transfer initiates a plain transaction to move funds to the contract, calling
// its default method if one is available.
func (_SequencerAccountability *SequencerAccountabilityTransactorRaw) Transfer(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.contract.Transfer(opts)
}

// Transact invokes the (paid) contract method with params as input values.
func (_SequencerAccountability *SequencerAccountabilityTransactorRaw) Transact(opts *bind.TransactOpts, method string, params ...interface{}) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.contract.Transact(opts, method, params...)
}

// Bonded is a free data retrieval call binding the contract method 0xe88dc357.
//
// Solidity: function bonded() view returns(uint256)
func (_SequencerAccountability *SequencerAccountabilityCaller) Bonded(opts *bind.CallOpts) (*big.Int, error) {
	var out []interface{}
	err := _SequencerAccountability.contract.Call(opts, &out, "bonded")

	if err != nil {
		return *new(*big.Int), err
	}

	out0 := *abi.ConvertType(out[0], new(*big.Int)).(**big.Int)

	return out0, err

}

// Bonded is a free data retrieval call binding the contract method 0xe88dc357.
//
// Solidity: function bonded() view returns(uint256)
func (_SequencerAccountability *SequencerAccountabilitySession) Bonded() (*big.Int, error) {
	return _SequencerAccountability.Contract.Bonded(&_SequencerAccountability.CallOpts)
}

// Bonded is a free data retrieval call binding the contract method 0xe88dc357.
//
// Solidity: function bonded() view returns(uint256)
func (_SequencerAccountability *SequencerAccountabilityCallerSession) Bonded() (*big.Int, error) {
	return _SequencerAccountability.Contract.Bonded(&_SequencerAccountability.CallOpts)
}

// CheckpointHash is a free data retrieval call binding the contract method 0xa019b702.
//
// Solidity: function checkpointHash((uint64,bytes32,uint64) c) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilityCaller) CheckpointHash(opts *bind.CallOpts, c SequencerAccountabilityCheckpoint) ([32]byte, error) {
	var out []interface{}
	err := _SequencerAccountability.contract.Call(opts, &out, "checkpointHash", c)

	if err != nil {
		return *new([32]byte), err
	}

	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)

	return out0, err

}

// CheckpointHash is a free data retrieval call binding the contract method 0xa019b702.
//
// Solidity: function checkpointHash((uint64,bytes32,uint64) c) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilitySession) CheckpointHash(c SequencerAccountabilityCheckpoint) ([32]byte, error) {
	return _SequencerAccountability.Contract.CheckpointHash(&_SequencerAccountability.CallOpts, c)
}

// CheckpointHash is a free data retrieval call binding the contract method 0xa019b702.
//
// Solidity: function checkpointHash((uint64,bytes32,uint64) c) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilityCallerSession) CheckpointHash(c SequencerAccountabilityCheckpoint) ([32]byte, error) {
	return _SequencerAccountability.Contract.CheckpointHash(&_SequencerAccountability.CallOpts, c)
}

// EntryHash is a free data retrieval call binding the contract method 0x26866f94.
//
// Solidity: function entryHash((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilityCaller) EntryHash(opts *bind.CallOpts, e SequencerAccountabilityEntry) ([32]byte, error) {
	var out []interface{}
	err := _SequencerAccountability.contract.Call(opts, &out, "entryHash", e)

	if err != nil {
		return *new([32]byte), err
	}

	out0 := *abi.ConvertType(out[0], new([32]byte)).(*[32]byte)

	return out0, err

}

// EntryHash is a free data retrieval call binding the contract method 0x26866f94.
//
// Solidity: function entryHash((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilitySession) EntryHash(e SequencerAccountabilityEntry) ([32]byte, error) {
	return _SequencerAccountability.Contract.EntryHash(&_SequencerAccountability.CallOpts, e)
}

// EntryHash is a free data retrieval call binding the contract method 0x26866f94.
//
// Solidity: function entryHash((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e) view returns(bytes32)
func (_SequencerAccountability *SequencerAccountabilityCallerSession) EntryHash(e SequencerAccountabilityEntry) ([32]byte, error) {
	return _SequencerAccountability.Contract.EntryHash(&_SequencerAccountability.CallOpts, e)
}

// LatestAnchor is a free data retrieval call binding the contract method 0x245c88d8.
//
// Solidity: function latestAnchor() view returns(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilityCaller) LatestAnchor(opts *bind.CallOpts) (struct {
	Size      uint64
	Root      [32]byte
	Timestamp uint64
}, error) {
	var out []interface{}
	err := _SequencerAccountability.contract.Call(opts, &out, "latestAnchor")

	outstruct := new(struct {
		Size      uint64
		Root      [32]byte
		Timestamp uint64
	})
	if err != nil {
		return *outstruct, err
	}

	outstruct.Size = *abi.ConvertType(out[0], new(uint64)).(*uint64)
	outstruct.Root = *abi.ConvertType(out[1], new([32]byte)).(*[32]byte)
	outstruct.Timestamp = *abi.ConvertType(out[2], new(uint64)).(*uint64)

	return *outstruct, err

}

// LatestAnchor is a free data retrieval call binding the contract method 0x245c88d8.
//
// Solidity: function latestAnchor() view returns(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilitySession) LatestAnchor() (struct {
	Size      uint64
	Root      [32]byte
	Timestamp uint64
}, error) {
	return _SequencerAccountability.Contract.LatestAnchor(&_SequencerAccountability.CallOpts)
}

// LatestAnchor is a free data retrieval call binding the contract method 0x245c88d8.
//
// Solidity: function latestAnchor() view returns(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilityCallerSession) LatestAnchor() (struct {
	Size      uint64
	Root      [32]byte
	Timestamp uint64
}, error) {
	return _SequencerAccountability.Contract.LatestAnchor(&_SequencerAccountability.CallOpts)
}

// Slashed is a free data retrieval call binding the contract method 0x0a1ca632.
//
// Solidity: function slashed() view returns(bool)
func (_SequencerAccountability *SequencerAccountabilityCaller) Slashed(opts *bind.CallOpts) (bool, error) {
	var out []interface{}
	err := _SequencerAccountability.contract.Call(opts, &out, "slashed")

	if err != nil {
		return *new(bool), err
	}

	out0 := *abi.ConvertType(out[0], new(bool)).(*bool)

	return out0, err

}

// Slashed is a free data retrieval call binding the contract method 0x0a1ca632.
//
// Solidity: function slashed() view returns(bool)
func (_SequencerAccountability *SequencerAccountabilitySession) Slashed() (bool, error) {
	return _SequencerAccountability.Contract.Slashed(&_SequencerAccountability.CallOpts)
}

// Slashed is a free data retrieval call binding the contract method 0x0a1ca632.
//
// Solidity: function slashed() view returns(bool)
func (_SequencerAccountability *SequencerAccountabilityCallerSession) Slashed() (bool, error) {
	return _SequencerAccountability.Contract.Slashed(&_SequencerAccountability.CallOpts)
}

// Anchor is a paid mutator transaction binding the contract method 0xf33ac93d.
//
// Solidity: function anchor((uint64,bytes32,uint64) c, bytes sig) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) Anchor(opts *bind.TransactOpts, c SequencerAccountabilityCheckpoint, sig []byte) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "anchor", c, sig)
}

// Anchor is a paid mutator transaction binding the contract method 0xf33ac93d.
//
// Solidity: function anchor((uint64,bytes32,uint64) c, bytes sig) returns()
func (_SequencerAccountability *SequencerAccountabilitySession) Anchor(c SequencerAccountabilityCheckpoint, sig []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Anchor(&_SequencerAccountability.TransactOpts, c, sig)
}

// Anchor is a paid mutator transaction binding the contract method 0xf33ac93d.
//
// Solidity: function anchor((uint64,bytes32,uint64) c, bytes sig) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) Anchor(c SequencerAccountabilityCheckpoint, sig []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Anchor(&_SequencerAccountability.TransactOpts, c, sig)
}

// Bond is a paid mutator transaction binding the contract method 0x64c9ec6f.
//
// Solidity: function bond() payable returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) Bond(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "bond")
}

// Bond is a paid mutator transaction binding the contract method 0x64c9ec6f.
//
// Solidity: function bond() payable returns()
func (_SequencerAccountability *SequencerAccountabilitySession) Bond() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Bond(&_SequencerAccountability.TransactOpts)
}

// Bond is a paid mutator transaction binding the contract method 0x64c9ec6f.
//
// Solidity: function bond() payable returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) Bond() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Bond(&_SequencerAccountability.TransactOpts)
}

// RequestWithdrawal is a paid mutator transaction binding the contract method 0xdbaf2145.
//
// Solidity: function requestWithdrawal() returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) RequestWithdrawal(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "requestWithdrawal")
}

// RequestWithdrawal is a paid mutator transaction binding the contract method 0xdbaf2145.
//
// Solidity: function requestWithdrawal() returns()
func (_SequencerAccountability *SequencerAccountabilitySession) RequestWithdrawal() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.RequestWithdrawal(&_SequencerAccountability.TransactOpts)
}

// RequestWithdrawal is a paid mutator transaction binding the contract method 0xdbaf2145.
//
// Solidity: function requestWithdrawal() returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) RequestWithdrawal() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.RequestWithdrawal(&_SequencerAccountability.TransactOpts)
}

// SlashCheckpointEquivocation is a paid mutator transaction binding the contract method 0x10830a90.
//
// Solidity: function slashCheckpointEquivocation((uint64,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) SlashCheckpointEquivocation(opts *bind.TransactOpts, a SequencerAccountabilityCheckpoint, sigA []byte, b SequencerAccountabilityCheckpoint, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "slashCheckpointEquivocation", a, sigA, b, sigB)
}

// SlashCheckpointEquivocation is a paid mutator transaction binding the contract method 0x10830a90.
//
// Solidity: function slashCheckpointEquivocation((uint64,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilitySession) SlashCheckpointEquivocation(a SequencerAccountabilityCheckpoint, sigA []byte, b SequencerAccountabilityCheckpoint, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashCheckpointEquivocation(&_SequencerAccountability.TransactOpts, a, sigA, b, sigB)
}

// SlashCheckpointEquivocation is a paid mutator transaction binding the contract method 0x10830a90.
//
// Solidity: function slashCheckpointEquivocation((uint64,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) SlashCheckpointEquivocation(a SequencerAccountabilityCheckpoint, sigA []byte, b SequencerAccountabilityCheckpoint, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashCheckpointEquivocation(&_SequencerAccountability.TransactOpts, a, sigA, b, sigB)
}

// SlashEquivocation is a paid mutator transaction binding the contract method 0x0695eaef.
//
// Solidity: function slashEquivocation((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) SlashEquivocation(opts *bind.TransactOpts, a SequencerAccountabilityEntry, sigA []byte, b SequencerAccountabilityEntry, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "slashEquivocation", a, sigA, b, sigB)
}

// SlashEquivocation is a paid mutator transaction binding the contract method 0x0695eaef.
//
// Solidity: function slashEquivocation((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilitySession) SlashEquivocation(a SequencerAccountabilityEntry, sigA []byte, b SequencerAccountabilityEntry, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashEquivocation(&_SequencerAccountability.TransactOpts, a, sigA, b, sigB)
}

// SlashEquivocation is a paid mutator transaction binding the contract method 0x0695eaef.
//
// Solidity: function slashEquivocation((uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) a, bytes sigA, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) b, bytes sigB) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) SlashEquivocation(a SequencerAccountabilityEntry, sigA []byte, b SequencerAccountabilityEntry, sigB []byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashEquivocation(&_SequencerAccountability.TransactOpts, a, sigA, b, sigB)
}

// SlashInclusion is a paid mutator transaction binding the contract method 0xcb1380a8.
//
// Solidity: function slashInclusion((uint64,bytes32,uint64) c, bytes sigC, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e, bytes sigE, bytes32 leafEntryHash, bytes32[] proof) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) SlashInclusion(opts *bind.TransactOpts, c SequencerAccountabilityCheckpoint, sigC []byte, e SequencerAccountabilityEntry, sigE []byte, leafEntryHash [32]byte, proof [][32]byte) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "slashInclusion", c, sigC, e, sigE, leafEntryHash, proof)
}

// SlashInclusion is a paid mutator transaction binding the contract method 0xcb1380a8.
//
// Solidity: function slashInclusion((uint64,bytes32,uint64) c, bytes sigC, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e, bytes sigE, bytes32 leafEntryHash, bytes32[] proof) returns()
func (_SequencerAccountability *SequencerAccountabilitySession) SlashInclusion(c SequencerAccountabilityCheckpoint, sigC []byte, e SequencerAccountabilityEntry, sigE []byte, leafEntryHash [32]byte, proof [][32]byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashInclusion(&_SequencerAccountability.TransactOpts, c, sigC, e, sigE, leafEntryHash, proof)
}

// SlashInclusion is a paid mutator transaction binding the contract method 0xcb1380a8.
//
// Solidity: function slashInclusion((uint64,bytes32,uint64) c, bytes sigC, (uint64,bytes32,uint8,address,string,uint64,string,bytes32,uint64) e, bytes sigE, bytes32 leafEntryHash, bytes32[] proof) returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) SlashInclusion(c SequencerAccountabilityCheckpoint, sigC []byte, e SequencerAccountabilityEntry, sigE []byte, leafEntryHash [32]byte, proof [][32]byte) (*types.Transaction, error) {
	return _SequencerAccountability.Contract.SlashInclusion(&_SequencerAccountability.TransactOpts, c, sigC, e, sigE, leafEntryHash, proof)
}

// Withdraw is a paid mutator transaction binding the contract method 0x3ccfd60b.
//
// Solidity: function withdraw() returns()
func (_SequencerAccountability *SequencerAccountabilityTransactor) Withdraw(opts *bind.TransactOpts) (*types.Transaction, error) {
	return _SequencerAccountability.contract.Transact(opts, "withdraw")
}

// Withdraw is a paid mutator transaction binding the contract method 0x3ccfd60b.
//
// Solidity: function withdraw() returns()
func (_SequencerAccountability *SequencerAccountabilitySession) Withdraw() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Withdraw(&_SequencerAccountability.TransactOpts)
}

// Withdraw is a paid mutator transaction binding the contract method 0x3ccfd60b.
//
// Solidity: function withdraw() returns()
func (_SequencerAccountability *SequencerAccountabilityTransactorSession) Withdraw() (*types.Transaction, error) {
	return _SequencerAccountability.Contract.Withdraw(&_SequencerAccountability.TransactOpts)
}

// SequencerAccountabilityAnchoredIterator is returned from FilterAnchored and is used to iterate over the raw logs and unpacked data for Anchored events raised by the SequencerAccountability contract.
type SequencerAccountabilityAnchoredIterator struct {
	Event *SequencerAccountabilityAnchored // Event containing the contract specifics and raw log

	contract *bind.BoundContract // Generic contract to use for unpacking event data
	event    string              // Event name to use for unpacking event data

	logs chan types.Log        // Log channel receiving the found contract events
	sub  ethereum.Subscription // Subscription for errors, completion and termination
	done bool                  // Whether the subscription completed delivering logs
	fail error                 // Occurred error to stop iteration
}

// Next advances the iterator to the subsequent event, returning whether there
// are any more events found. In case of a retrieval or parsing error, false is
// returned and Error() can be queried for the exact failure.
func (it *SequencerAccountabilityAnchoredIterator) Next() bool {
	// If the iterator failed, stop iterating
	if it.fail != nil {
		return false
	}
	// If the iterator completed, deliver directly whatever's available
	if it.done {
		select {
		case log := <-it.logs:
			it.Event = new(SequencerAccountabilityAnchored)
			if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
				it.fail = err
				return false
			}
			it.Event.Raw = log
			return true

		default:
			return false
		}
	}
	// Iterator still in progress, wait for either a data or an error event
	select {
	case log := <-it.logs:
		it.Event = new(SequencerAccountabilityAnchored)
		if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
			it.fail = err
			return false
		}
		it.Event.Raw = log
		return true

	case err := <-it.sub.Err():
		it.done = true
		it.fail = err
		return it.Next()
	}
}

// Error returns any retrieval or parsing error occurred during filtering.
func (it *SequencerAccountabilityAnchoredIterator) Error() error {
	return it.fail
}

// Close terminates the iteration process, releasing any pending underlying
// resources.
func (it *SequencerAccountabilityAnchoredIterator) Close() error {
	it.sub.Unsubscribe()
	return nil
}

// SequencerAccountabilityAnchored represents a Anchored event raised by the SequencerAccountability contract.
type SequencerAccountabilityAnchored struct {
	Size      uint64
	Root      [32]byte
	Timestamp uint64
	Raw       types.Log // Blockchain specific contextual infos
}

// FilterAnchored is a free log retrieval operation binding the contract event 0x8a625ff6b600489e76c9caf3b3e78a6b1cf48af724479bd7bdca61de573a6412.
//
// Solidity: event Anchored(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilityFilterer) FilterAnchored(opts *bind.FilterOpts) (*SequencerAccountabilityAnchoredIterator, error) {

	logs, sub, err := _SequencerAccountability.contract.FilterLogs(opts, "Anchored")
	if err != nil {
		return nil, err
	}
	return &SequencerAccountabilityAnchoredIterator{contract: _SequencerAccountability.contract, event: "Anchored", logs: logs, sub: sub}, nil
}

// WatchAnchored is a free log subscription operation binding the contract event 0x8a625ff6b600489e76c9caf3b3e78a6b1cf48af724479bd7bdca61de573a6412.
//
// Solidity: event Anchored(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilityFilterer) WatchAnchored(opts *bind.WatchOpts, sink chan<- *SequencerAccountabilityAnchored) (event.Subscription, error) {

	logs, sub, err := _SequencerAccountability.contract.WatchLogs(opts, "Anchored")
	if err != nil {
		return nil, err
	}
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer sub.Unsubscribe()
		for {
			select {
			case log := <-logs:
				// New log arrived, parse the event and forward to the user
				event := new(SequencerAccountabilityAnchored)
				if err := _SequencerAccountability.contract.UnpackLog(event, "Anchored", log); err != nil {
					// If the signature doesn't match, skip this log.
					if errors.Is(err, bind.ErrEventSignatureMismatch) {
						continue
					}
					return err
				}
				event.Raw = log

				select {
				case sink <- event:
				case err := <-sub.Err():
					return err
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	}), nil
}

// ParseAnchored is a log parse operation binding the contract event 0x8a625ff6b600489e76c9caf3b3e78a6b1cf48af724479bd7bdca61de573a6412.
//
// Solidity: event Anchored(uint64 size, bytes32 root, uint64 timestamp)
func (_SequencerAccountability *SequencerAccountabilityFilterer) ParseAnchored(log types.Log) (*SequencerAccountabilityAnchored, error) {
	event := new(SequencerAccountabilityAnchored)
	if err := _SequencerAccountability.contract.UnpackLog(event, "Anchored", log); err != nil {
		return nil, err
	}
	event.Raw = log
	return event, nil
}

// SequencerAccountabilitySlashedIterator is returned from FilterSlashed and is used to iterate over the raw logs and unpacked data for Slashed events raised by the SequencerAccountability contract.
type SequencerAccountabilitySlashedIterator struct {
	Event *SequencerAccountabilitySlashed // Event containing the contract specifics and raw log

	contract *bind.BoundContract // Generic contract to use for unpacking event data
	event    string              // Event name to use for unpacking event data

	logs chan types.Log        // Log channel receiving the found contract events
	sub  ethereum.Subscription // Subscription for errors, completion and termination
	done bool                  // Whether the subscription completed delivering logs
	fail error                 // Occurred error to stop iteration
}

// Next advances the iterator to the subsequent event, returning whether there
// are any more events found. In case of a retrieval or parsing error, false is
// returned and Error() can be queried for the exact failure.
func (it *SequencerAccountabilitySlashedIterator) Next() bool {
	// If the iterator failed, stop iterating
	if it.fail != nil {
		return false
	}
	// If the iterator completed, deliver directly whatever's available
	if it.done {
		select {
		case log := <-it.logs:
			it.Event = new(SequencerAccountabilitySlashed)
			if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
				it.fail = err
				return false
			}
			it.Event.Raw = log
			return true

		default:
			return false
		}
	}
	// Iterator still in progress, wait for either a data or an error event
	select {
	case log := <-it.logs:
		it.Event = new(SequencerAccountabilitySlashed)
		if err := it.contract.UnpackLog(it.Event, it.event, log); err != nil {
			it.fail = err
			return false
		}
		it.Event.Raw = log
		return true

	case err := <-it.sub.Err():
		it.done = true
		it.fail = err
		return it.Next()
	}
}

// Error returns any retrieval or parsing error occurred during filtering.
func (it *SequencerAccountabilitySlashedIterator) Error() error {
	return it.fail
}

// Close terminates the iteration process, releasing any pending underlying
// resources.
func (it *SequencerAccountabilitySlashedIterator) Close() error {
	it.sub.Unsubscribe()
	return nil
}

// SequencerAccountabilitySlashed represents a Slashed event raised by the SequencerAccountability contract.
type SequencerAccountabilitySlashed struct {
	By       common.Address
	Position uint64
	Amount   *big.Int
	Raw      types.Log // Blockchain specific contextual infos
}

// FilterSlashed is a free log retrieval operation binding the contract event 0xcb948a4b3bd792612efc104e791eeee49cf05730be562c45a1de4786026eae3a.
//
// Solidity: event Slashed(address indexed by, uint64 position, uint256 amount)
func (_SequencerAccountability *SequencerAccountabilityFilterer) FilterSlashed(opts *bind.FilterOpts, by []common.Address) (*SequencerAccountabilitySlashedIterator, error) {

	var byRule []interface{}
	for _, byItem := range by {
		byRule = append(byRule, byItem)
	}

	logs, sub, err := _SequencerAccountability.contract.FilterLogs(opts, "Slashed", byRule)
	if err != nil {
		return nil, err
	}
	return &SequencerAccountabilitySlashedIterator{contract: _SequencerAccountability.contract, event: "Slashed", logs: logs, sub: sub}, nil
}

// WatchSlashed is a free log subscription operation binding the contract event 0xcb948a4b3bd792612efc104e791eeee49cf05730be562c45a1de4786026eae3a.
//
// Solidity: event Slashed(address indexed by, uint64 position, uint256 amount)
func (_SequencerAccountability *SequencerAccountabilityFilterer) WatchSlashed(opts *bind.WatchOpts, sink chan<- *SequencerAccountabilitySlashed, by []common.Address) (event.Subscription, error) {

	var byRule []interface{}
	for _, byItem := range by {
		byRule = append(byRule, byItem)
	}

	logs, sub, err := _SequencerAccountability.contract.WatchLogs(opts, "Slashed", byRule)
	if err != nil {
		return nil, err
	}
	return event.NewSubscription(func(quit <-chan struct{}) error {
		defer sub.Unsubscribe()
		for {
			select {
			case log := <-logs:
				// New log arrived, parse the event and forward to the user
				event := new(SequencerAccountabilitySlashed)
				if err := _SequencerAccountability.contract.UnpackLog(event, "Slashed", log); err != nil {
					// If the signature doesn't match, skip this log.
					if errors.Is(err, bind.ErrEventSignatureMismatch) {
						continue
					}
					return err
				}
				event.Raw = log

				select {
				case sink <- event:
				case err := <-sub.Err():
					return err
				case <-quit:
					return nil
				}
			case err := <-sub.Err():
				return err
			case <-quit:
				return nil
			}
		}
	}), nil
}

// ParseSlashed is a log parse operation binding the contract event 0xcb948a4b3bd792612efc104e791eeee49cf05730be562c45a1de4786026eae3a.
//
// Solidity: event Slashed(address indexed by, uint64 position, uint256 amount)
func (_SequencerAccountability *SequencerAccountabilityFilterer) ParseSlashed(log types.Log) (*SequencerAccountabilitySlashed, error) {
	event := new(SequencerAccountabilitySlashed)
	if err := _SequencerAccountability.contract.UnpackLog(event, "Slashed", log); err != nil {
		return nil, err
	}
	event.Raw = log
	return event, nil
}
